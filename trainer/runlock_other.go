//go:build !unix

package trainer

import (
	"fmt"
	"runtime"
)

// runLock is unsupported off Unix: see runlock_unix.go.
type runLock struct{}

// lockRunDir refuses: without flock two trainers could share a run dir.
func lockRunDir(dir string) (*runLock, error) {
	return nil, fmt.Errorf("trainer: run dir %s: run-dir locking is not implemented on %s", dir, runtime.GOOS)
}

func (l *runLock) release() {}
