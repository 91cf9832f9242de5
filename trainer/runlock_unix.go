//go:build unix

package trainer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// runLock is an exclusive flock on RunDir/LockFile, held for as long as a
// training job runs. The kernel releases it when the process ends, SIGKILL
// included, so a stale lock file never blocks a restart.
type runLock struct{ f *os.File }

// lockRunDir takes the run directory's lock without waiting. When another
// process holds it, the error names the run directory and the holder's pid
// and wraps ErrRunDirLocked.
func lockRunDir(dir string) (*runLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trainer: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "pid unknown"
			if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = "pid " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("trainer: %w: %s is held by another trainerd process (%s, lock file %s); wait for it to stop, stop it, or use another --run-dir",
				ErrRunDirLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("trainer: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close() // closing releases the flock
			return nil, fmt.Errorf("trainer: lock %s: record pid: %w", path, err)
		}
	}
	return &runLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a process
// that opened it before the removal lock an unlinked file.
func (l *runLock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}
