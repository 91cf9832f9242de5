package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Input limits. Each is checked before the input is buffered or stored, and
// exceeding it is an *Error naming FILE:LINE.
const (
	// MaxLineBytes is the longest line a parser reads (without its line
	// end), and the longest CSV record (a quoted field may span lines).
	// The longest real lines are LightGCN user lines: a user with 100k
	// items is under 1 MiB.
	MaxLineBytes = 16 << 20
	// MaxIDBytes is the longest external id a parser accepts. It equals
	// featurestore.MaxIDBytes, the longest id a store holds.
	MaxIDBytes = 1024
)

// maxQuote is the most bytes of offending input an error message quotes.
const maxQuote = 100

// quote formats offending input for an error message as a Go-quoted
// string. Input longer than maxQuote bytes is cut (at a UTF-8 boundary)
// and its length noted, so that a 10 MB token gives a one-line message.
// Every parser error that shows input goes through quote or columnList.
func quote[T ~string | ~[]byte](s T) string {
	head, more := clip(s)
	return strconv.Quote(head) + more
}

// clip cuts s to at most maxQuote bytes at a UTF-8 boundary; more notes the
// full length when s was cut, else "".
func clip[T ~string | ~[]byte](s T) (head, more string) {
	if len(s) <= maxQuote {
		return string(s), ""
	}
	cut := maxQuote
	for cut > maxQuote-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return string(s[:cut]), "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// clipped is s cut by clip, for names shown unquoted.
func clipped(s string) string {
	head, more := clip(s)
	return head + more
}

// columnList formats header names for an error message: comma-separated,
// each clipped, the list cut after about 4×maxQuote bytes.
func columnList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if b.Len() > 4*maxQuote {
			fmt.Fprintf(&b, ", ... (%d columns)", len(names))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(clipped(n))
	}
	return b.String()
}

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
	if len(tok) > 20 { // leading zeros ("000…07") are still a number
		for len(tok) > 1 && tok[0] == '0' {
			tok = tok[1:]
		}
	}
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
		return fmt.Sprintf("%s %s overflows uint32 (max 4294967295)", what, quote(tok))
	}
	return fmt.Sprintf("%s %s is not a non-negative integer", what, quote(tok))
}
