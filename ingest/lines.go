package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readBufSize is the read buffer and the initial line buffer; lines may
// grow to MaxLineBytes.
const readBufSize = 1 << 20

// errLineTooLong is the reason for a line over MaxLineBytes.
var errLineTooLong = fmt.Sprintf("line longer than %d MiB (a binary file?)", MaxLineBytes>>20)

// openFile opens path and converts failures into an *Error naming it.
func openFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		reason := err.Error()
		if errors.As(err, &pe) {
			reason = pe.Err.Error()
		}
		return nil, &Error{File: path, Reason: "cannot open: " + reason, Err: err}
	}
	if st, err := f.Stat(); err == nil {
		switch {
		case st.IsDir():
			f.Close()
			return nil, &Error{File: path, Reason: "is a directory, want a file"}
		case st.Mode()&fs.ModeDevice != 0:
			// /dev/zero, /dev/urandom, a terminal: endless or not data.
			f.Close()
			return nil, &Error{File: path, Reason: "is a device, want a regular file or a pipe"}
		}
	}
	return f, nil
}

// lineReader yields the lines of one file without their "\n" or "\r\n",
// counting line numbers and reporting progress in chunks.
type lineReader struct {
	ctx    context.Context
	path   string
	f      *os.File
	sc     *bufio.Scanner
	line   int   // number of the line last returned, 1-based
	nbytes int64 // bytes consumed so far
	prog   *Progress
	pendR  int64
	err    error
}

func openLines(ctx context.Context, path string, prog *Progress) (*lineReader, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(&countingReader{r: f, prog: prog})
	// The scanner's limit counts the line end too ("\r\n").
	sc.Buffer(make([]byte, readBufSize), MaxLineBytes+2)
	return &lineReader{ctx: ctx, path: path, f: f, sc: sc, prog: prog}, nil
}

// next returns the next line (valid until the following call) or false at
// the end of input or on error; check r.err afterwards.
func (r *lineReader) next() ([]byte, bool) {
	if r.err != nil {
		return nil, false
	}
	if !r.sc.Scan() {
		r.flush()
		if err := r.sc.Err(); err != nil {
			reason := err.Error()
			if errors.Is(err, bufio.ErrTooLong) {
				reason = errLineTooLong
			}
			r.err = &Error{File: r.path, Line: r.line + 1, Reason: reason, Err: err}
		}
		return nil, false
	}
	r.line++
	b := r.sc.Bytes()
	if len(b) > MaxLineBytes { // the scanner's limit let the line end through
		r.flush()
		r.err = &Error{File: r.path, Line: r.line, Reason: errLineTooLong}
		return nil, false
	}
	r.nbytes += int64(len(b)) + 1
	r.pendR++
	if r.pendR >= ctxCheckEvery {
		r.flush()
		if err := ctxErr(r.ctx); err != nil {
			r.err = err
			return nil, false
		}
	}
	return b, true
}

func (r *lineReader) flush() {
	r.prog.add(0, r.pendR)
	r.pendR = 0
}

// countingReader reports the bytes read through it to a Progress, one
// buffer fill (up to 1 MiB) at a time.
type countingReader struct {
	r    io.Reader
	prog *Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.prog.add(int64(n), 0)
	return n, err
}

// lineCap passes a stream through and fails with an *Error once a line runs
// past MaxLineBytes, or a record (see mark) past MaxLineBytes, before the
// reader above it buffers more: encoding/csv has no limit of its own.
type lineCap struct {
	r    io.Reader
	path string
	// run is the length of the current line so far; lines counts the
	// '\n's passed; passed counts all bytes.
	run    int64
	lines  int
	passed int64
	// recStart is the offset where the current record starts and recLine
	// a line at or before its first.
	recStart int64
	recLine  int
	err      error // sticky: returned once the bytes before it are consumed
}

// mark records that the reader above has consumed everything up to offset
// off, where a record ends on line endLine.
func (c *lineCap) mark(off int64, endLine int) { c.recStart, c.recLine = off, endLine+1 }

// recordSlack is how far the reader above may read ahead of the record it
// parses (encoding/csv's bufio.Reader holds 4 KiB).
const recordSlack = 64 << 10

func (c *lineCap) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		end := n
		if j >= 0 {
			end = i + j
		}
		if c.run+int64(end-i) > MaxLineBytes {
			// Pass what comes before the limit, so that errors on earlier
			// lines come first; fail on the next Read.
			keep := i + int(MaxLineBytes-c.run)
			c.err = &Error{File: c.path, Line: c.lines + 1, Reason: errLineTooLong}
			c.passed += int64(keep)
			return keep, nil
		}
		if j < 0 {
			c.run += int64(end - i)
			break
		}
		c.run = 0
		c.lines++
		i = end + 1
	}
	c.passed += int64(n)
	if c.passed-c.recStart > MaxLineBytes+recordSlack {
		c.err = &Error{File: c.path, Line: c.lines + 1,
			Reason: fmt.Sprintf("record longer than %d MiB since line %d (an unclosed quote?)", MaxLineBytes>>20, c.recLine)}
		return 0, c.err
	}
	return n, err
}

// empty reports whether the file held no bytes at all (valid after next
// returned false).
func (r *lineReader) empty() bool { return r.nbytes == 0 && r.line == 0 }

func (r *lineReader) close() { r.f.Close() }

// isBlank reports whether b holds only spaces, tabs and carriage returns.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// bufReader wraps r in a large read buffer.
func bufReader(r io.Reader) io.Reader { return bufio.NewReaderSize(r, readBufSize) }

// records calls fn for every non-blank line of path, after refusing binary
// garbage (NUL bytes; invalid UTF-8 too unless latin1) and, when sep is not
// 0, splitting the line into exactly len(f) sep-separated fields (names lists
// them for the error a wrong count gets). It stops at fn's first error and
// returns the closed reader for end-of-file checks (r.line, r.empty()).
func records(ctx context.Context, path string, prog *Progress, sep byte, f [][]byte, names string, latin1 bool, fn func(r *lineReader, line []byte) error) (*lineReader, error) {
	r, err := openLines(ctx, path, prog)
	if err != nil {
		return nil, err
	}
	defer r.close()
	sepName := string(sep)
	if sep == '\t' {
		sepName = "tab"
	}
	for {
		line, ok := r.next()
		if !ok {
			break
		}
		if isBlank(line) {
			continue
		}
		if latin1 {
			if bytes.IndexByte(line, 0) >= 0 {
				return r, errf(path, r.line, "binary data (NUL byte)")
			}
		} else if reason := badBytes(line); reason != "" {
			return r, errf(path, r.line, "%s", reason)
		}
		if sep != 0 {
			if got := mlFields(line, sep, f); got != len(f) {
				return r, errf(path, r.line, "want %d %s-separated fields (%s), got %d", len(f), sepName, names, got)
			}
		}
		if err := fn(r, line); err != nil {
			return r, err
		}
	}
	return r, r.err
}
