// Package atomicfile replaces a file's contents all at once: readers see
// the old file or the new one, never part of either, and a crash at any
// point leaves one of the two. The bytes go to a temp file in the same
// directory, which is fsynced, closed and renamed over the path; then the
// directory is fsynced so that the rename itself survives a power loss.
// On any error the temp file is removed and the old file is left as it was.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Stages at which Options.Crash is called, in order.
const (
	// StageWritten: every byte is in the temp file, not yet fsynced.
	StageWritten = "written"
	// StageSynced: the temp file is fsynced and closed, not yet renamed.
	StageSynced = "synced"
	// StageRenamed: the temp file is renamed over the path; the directory
	// is not yet fsynced.
	StageRenamed = "renamed"
)

// Options tune Write. The zero value writes mode 0o644 with temp names
// "."+base+".*.tmp".
type Options struct {
	// Perm is the new file's mode (0: 0o644).
	Perm fs.FileMode
	// TempPattern is the os.CreateTemp pattern of the temp file in the
	// path's directory ("": "."+base+".*.tmp"). A caller that sweeps up
	// temp files a crash left behind chooses a pattern it can recognise.
	TempPattern string
	// Crash, when set (tests), is called at each stage (StageWritten,
	// StageSynced, StageRenamed). An error it returns ends Write at once
	// with that error and nothing cleaned up, as a crash there would.
	Crash func(stage string) error
}

// bufSize is the write buffer between the callback and the temp file.
const bufSize = 1 << 20

// Write replaces path with the bytes write produces, atomically and
// durably (see the package doc), with the default Options.
func Write(path string, write func(io.Writer) error) error {
	return Options{}.Write(path, write)
}

// WriteFile replaces path with data, atomically and durably, with the
// default Options.
func WriteFile(path string, data []byte) error {
	return Options{}.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with the bytes write produces, atomically and
// durably, under o. write's output is buffered; an error it returns is
// returned wrapped (errors.Is sees it) and path is left as it was. Errors
// name the path.
func (o Options) Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	pattern := o.TempPattern
	if pattern == "" {
		pattern = "." + filepath.Base(path) + ".*.tmp"
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o644
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	leave := false // true: the temp file is gone or must stay (crash)
	defer func() {
		if err != nil && !leave {
			f.Close() // may already be closed: the error is of no interest
			os.Remove(tmp)
		}
	}()
	crash := func(stage string) error {
		if o.Crash == nil {
			return nil
		}
		if err := o.Crash(stage); err != nil {
			leave = true
			return err
		}
		return nil
	}
	bw := bufio.NewWriterSize(f, bufSize)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := crash(StageWritten); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync %s: %w", path, tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close %s: %w", path, tmp, err)
	}
	if err := crash(StageSynced); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := crash(StageRenamed); err != nil {
		return err
	}
	if err := SyncDir(dir); err != nil {
		// The new file is in place; only its directory entry may not be
		// durable yet. Nothing is left to clean up.
		leave = true
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs the directory dir, making renames, creations and removals
// of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
