package export

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrNPY marks a .npy stream that is malformed or not the one layout this
// package handles; test with errors.Is.
var ErrNPY = errors.New("export: bad .npy data")

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxElems bounds rows×cols when reading (16 GiB of float32), so a corrupt
// shape cannot trigger a huge allocation.
const maxElems = 1 << 32

// NPYHeader returns the complete v1.0 header (magic, version, length,
// dictionary, space padding and '\n') for a C-order little-endian float32
// array of shape (rows, cols); its length is a multiple of 64, as NumPy
// writes it.
func NPYHeader(rows, cols int) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// magic(6) + version(2) + header length(2) + dict + padding + '\n'
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	b := make([]byte, 0, 10+hlen)
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	b = append(b, dict...)
	for i := 0; i < pad; i++ {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// WriteNPY writes data, a row-major rows×cols matrix, as a NumPy .npy v1.0
// file: dtype '<f4', fortran_order False, shape (rows, cols).
func WriteNPY(w io.Writer, data []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || len(data) != rows*cols {
		return fmt.Errorf("export: WriteNPY: %d values for shape (%d, %d)", len(data), rows, cols)
	}
	if _, err := w.Write(NPYHeader(rows, cols)); err != nil {
		return fmt.Errorf("export: write .npy header: %w", err)
	}
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < len(data); {
		buf = buf[:0]
		for ; i < len(data) && len(buf) < cap(buf); i++ {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(data[i]))
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("export: write .npy data: %w", err)
		}
	}
	return nil
}

// ReadNPY reads a .npy file written by WriteNPY or by NumPy for a 2-D
// C-order little-endian float32 array (np.save of a float32 matrix), format
// versions 1.0, 2.0 and 3.0. Anything else — wrong magic, another dtype,
// Fortran order, a shape that is not 2-D, a truncated body or trailing bytes
// — fails with an error wrapping ErrNPY that says what was wrong.
func ReadNPY(r io.Reader) (data []float32, rows, cols int, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, 0, 0, fmt.Errorf("%w: reading magic and version: %v", ErrNPY, err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, 0, 0, fmt.Errorf("%w: magic %q, want %q", ErrNPY, pre[:6], npyMagic)
	}
	var hlen int
	switch major, minor := pre[6], pre[7]; {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: reading header length: %v", ErrNPY, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: reading header length: %v", ErrNPY, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<20 {
			return nil, 0, 0, fmt.Errorf("%w: header length %d is implausible", ErrNPY, hlen)
		}
	default:
		return nil, 0, 0, fmt.Errorf("%w: unsupported format version %d.%d", ErrNPY, major, minor)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, 0, 0, fmt.Errorf("%w: header of %d bytes truncated: %v", ErrNPY, hlen, err)
	}
	rows, cols, err = parseHeader(string(hdr))
	if err != nil {
		return nil, 0, 0, err
	}
	if cols > 0 && rows > maxElems/cols {
		return nil, 0, 0, fmt.Errorf("%w: shape (%d, %d) too large", ErrNPY, rows, cols)
	}
	n := rows * cols
	data = make([]float32, n)
	var buf [4096]byte
	for i := 0; i < len(data); {
		chunk := min(len(buf)/4, len(data)-i)
		if _, err := io.ReadFull(br, buf[:chunk*4]); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: data truncated: want %d float32 values (shape (%d, %d)), got fewer than %d: %v", ErrNPY, n, rows, cols, i+chunk, err)
		}
		for j := 0; j < chunk; j++ {
			data[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[j*4:]))
		}
		i += chunk
	}
	if _, err := br.ReadByte(); err == nil {
		return nil, 0, 0, fmt.Errorf("%w: trailing bytes after %d values of shape (%d, %d)", ErrNPY, n, rows, cols)
	} else if err != io.EOF {
		return nil, 0, 0, fmt.Errorf("export: read .npy: %w", err)
	}
	return data, rows, cols, nil
}

// parseHeader parses the header dictionary (a Python literal) strictly:
// exactly the keys descr, fortran_order and shape; descr '<f4',
// fortran_order False, shape a 2-tuple of non-negative ints.
func parseHeader(h string) (rows, cols int, err error) {
	bad := func(format string, a ...any) (int, int, error) {
		return 0, 0, fmt.Errorf("%w: header %q: %s", ErrNPY, strings.TrimRight(h, " \n"), fmt.Sprintf(format, a...))
	}
	if !strings.HasSuffix(h, "\n") {
		return bad("does not end in a newline")
	}
	p := &pyParser{s: strings.TrimRight(h, " \n")}
	if !p.eat('{') {
		return bad("does not start with '{'")
	}
	seen := map[string]bool{}
	var descr string
	var fortran bool
	var shape []int
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return bad("expected a quoted key at offset %d", p.i)
		}
		if seen[key] {
			return bad("duplicate key %q", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return bad("expected ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if descr, ok = p.str(); !ok {
				return bad("descr is not a string")
			}
		case "fortran_order":
			switch {
			case p.word("False"):
				fortran = false
			case p.word("True"):
				fortran = true
			default:
				return bad("fortran_order is not True or False")
			}
		case "shape":
			if shape, ok = p.tuple(); !ok {
				return bad("shape is not a tuple of non-negative integers")
			}
		default:
			return bad("unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return bad("expected ',' or '}' at offset %d", p.i)
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return bad("unexpected text after the dictionary")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return bad("missing key %q", k)
		}
	}
	if descr != "<f4" {
		return bad("dtype %q, want '<f4' (little-endian float32)", descr)
	}
	if fortran {
		return bad("fortran_order True, want C order")
	}
	if len(shape) != 2 {
		return bad("shape has %d dimensions, want 2 (rows, cols)", len(shape))
	}
	return shape[0], shape[1], nil
}

// pyParser reads the small subset of Python literal syntax .npy headers use.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a '...' or "..." string without escapes.
func (p *pyParser) str() (string, bool) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

// tuple reads (a, b, ...) of non-negative decimal integers; (n,) and () too.
func (p *pyParser) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	var out []int
	for {
		p.space()
		if p.eat(')') {
			return out, true
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.Atoi(p.s[j:p.i])
		if err != nil || n < 0 || n > maxElems {
			return nil, false
		}
		out = append(out, n)
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat(')') {
				return nil, false
			}
			return out, true
		}
	}
}
