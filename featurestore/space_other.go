//go:build !linux

package featurestore

import (
	"errors"
	"os"
)

// statfsFree reports unknown free space (-1) and a 4 KiB block outside Linux.
func statfsFree(string) (free, block int64, err error) { return -1, 4096, nil }

// fallocate is not available outside Linux.
func fallocate(*os.File, int64) error { return errors.ErrUnsupported }
