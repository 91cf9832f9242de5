//go:build noopenblas

package linalg

// onlyGonum is true under the build tag noopenblas: Default is gonum
// whatever is installed.
const onlyGonum = true
