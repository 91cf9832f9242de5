//go:build !(darwin || freebsd || linux || netbsd)

package linalg

import (
	"fmt"
	"runtime"
)

// Libraries lists the OpenBLAS libraries the automatic search opens: none
// on this system, where no run-time loader is built in.
func Libraries() []string { return nil }

// Open reports that OpenBLAS cannot be opened at run time on this system.
func Open(lib string) (*BLAS, error) {
	return nil, fmt.Errorf("open %s: no run-time library loading on %s", lib, runtime.GOOS)
}
