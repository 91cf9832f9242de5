package linalg

import (
	"log/slog"
	"os"
	"strings"
	"sync"
)

// EnvBackend is the environment variable that overrides the backend search:
// "auto" or empty (search), "gonum", "cblas" (the cgo-linked OpenBLAS), or
// the path or soname of the one OpenBLAS library to open.
const EnvBackend = "TRAINERD_BLAS"

// Default is the process's backend, chosen on first use by Select from
// $TRAINERD_BLAS, and logged on slog's default logger. cmd/trainerd makes
// that first use at start-up (SetThreads), before any command runs.
func Default() *BLAS { return defaultBLAS() }

// defaultBLAS is a package-level once-initialised value rather than a value
// built in main and passed down on purpose: GEMM is called from the loss,
// the models, eval, infer and serve, and from gorgonia through
// Implementation (gorgonia.Use takes a value with no way to reach a
// trainer's state), so passing a backend would change every one of those
// signatures. The choice depends only on the process's environment and the
// installed libraries, which do not change while it runs; once made, the
// *BLAS is never replaced or mutated, so it is a start-up constant, not
// mutable state. Tests and benchmarks that want a given backend build their
// own with Gonum, Open or Linked.
var defaultBLAS = sync.OnceValue(func() *BLAS {
	return Select(os.Getenv(EnvBackend), slog.Default())
})

// Select chooses a backend for setting (a value of TRAINERD_BLAS, see
// EnvBackend) and logs the choice on log: at debug level when OpenBLAS is
// used, one info line when gonum is used instead, one warning when the
// setting asked for a library that is not there. It never fails: gonum is
// always there.
func Select(setting string, log *slog.Logger) *BLAS {
	setting = strings.TrimSpace(setting)
	if onlyGonum {
		log.Info("linalg: GEMM on gonum's pure-Go BLAS (built with the tag noopenblas)")
		return Gonum()
	}
	switch setting {
	case "gonum":
		log.Info("linalg: GEMM on gonum's pure-Go BLAS (" + EnvBackend + "=gonum)")
		return Gonum()
	case "cblas":
		if b, ok := Linked(); ok {
			logOpenBLAS(log, b)
			return b
		}
		log.Warn("linalg: "+EnvBackend+"=cblas but this binary has no cgo-linked OpenBLAS (build tag cblas); GEMM on gonum's pure-Go BLAS", "env", EnvBackend)
		return Gonum()
	case "", "auto":
		if b, ok := Linked(); ok {
			logOpenBLAS(log, b)
			return b
		}
		var firstErr error
		for _, lib := range Libraries() {
			b, err := Open(lib)
			if err == nil {
				logOpenBLAS(log, b)
				return b
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		log.Info("linalg: OpenBLAS not found; GEMM on gonum's pure-Go BLAS, several times slower (installing OpenBLAS, e.g. apt install libopenblas0, is an optional speed-up)",
			"tried", strings.Join(Libraries(), ","), "err", errString(firstErr))
		return Gonum()
	default:
		b, err := Open(setting)
		if err == nil {
			logOpenBLAS(log, b)
			return b
		}
		log.Warn("linalg: the OpenBLAS library "+EnvBackend+" names did not open; GEMM on gonum's pure-Go BLAS",
			"env", EnvBackend, "lib", setting, "err", err)
		return Gonum()
	}
}

func logOpenBLAS(log *slog.Logger, b *BLAS) {
	log.Debug("linalg: GEMM on OpenBLAS", "backend", b.Name(), "lib", b.Library(), "config", strings.TrimSpace(b.Config()))
}

func errString(err error) string {
	if err == nil {
		return "no library to try"
	}
	return err.Error()
}
