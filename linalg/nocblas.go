//go:build !(cgo && cblas)

package linalg

// Linked reports that this binary has no OpenBLAS linked through cgo (build
// with the tags cblas and cgo for one).
func Linked() (*BLAS, bool) { return nil, false }
