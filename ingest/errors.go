package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Error is a problem with the input, located at one line of one file.
//
// File is the path exactly as the caller gave it (for movielens the
// directory joined with the file name, e.g. "data/ml-100k/u.data"); Line is
// 1-based. Line 0 means the problem concerns the file as a whole (it cannot be
// opened, or lacks a row that another file calls for) and then Error omits
// it.
type Error struct {
	File   string
	Line   int
	Reason string
	// Err is the underlying cause, if any (an *fs.PathError, ...).
	Err error
}

// Error formats "FILE:LINE: reason", or "FILE: reason" when Line is 0.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Reason
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Reason
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// AsError reports whether err is (or wraps) an *Error and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func errf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// badBytes returns a reason if tok holds binary data: a NUL byte or invalid
// UTF-8; "" when tok is text.
func badBytes(tok []byte) string {
	if bytes.IndexByte(tok, 0) >= 0 {
		return "binary data (NUL byte)"
	}
	if !utf8.Valid(tok) {
		return "binary data (invalid UTF-8)"
	}
	return ""
}

// parseUint parses a run of ASCII digits into a value ≤ max, without
// allocating; ok is false for anything else (sign, other bytes, overflow).
func parseUint(tok []byte, max uint64) (uint64, bool) {
	if len(tok) == 0 || len(tok) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range tok {
		d := uint64(c - '0')
		if d > 9 {
			return 0, false
		}
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// isDigits reports whether tok is a non-empty run of ASCII digits.
func isDigits(tok []byte) bool {
	if len(tok) == 0 {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// idReason returns the reason tok is not a valid uint32 id of kind what.
func idReason(what string, tok []byte) string {
	if r := badBytes(tok); r != "" {
		return fmt.Sprintf("%s: %s", what, r)
	}
	if isDigits(tok) {
		return fmt.Sprintf("%s %q overflows uint32 (max 4294967295)", what, tok)
	}
	return fmt.Sprintf("%s %q is not a non-negative integer", what, tok)
}
