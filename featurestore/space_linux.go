//go:build linux

package featurestore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// statfsFree returns the bytes an unprivileged writer may still use on the
// filesystem holding dir, and its block size.
func statfsFree(dir string) (free, block int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, st.Bsize, nil
}

// fallocate allocates n bytes to f; errors.ErrUnsupported when the
// filesystem cannot.
func fallocate(f *os.File, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return errors.ErrUnsupported
		}
		return err
	}
}
