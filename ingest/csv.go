package ingest

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trainerd/trainerd/dataset"
)

// CSVOptions configures ParseCSV. Column references (UserCol, ItemCol, ...)
// are a header name or a 0-based index; names need Header.
type CSVOptions struct {
	// Name labels the data set; empty means the edges file's base name
	// without extension.
	Name string
	// Edges is the interactions file, required.
	Edges string
	// Test, if non-empty, is a test file with the same layout as Edges;
	// otherwise Split divides Edges.
	Test string
	// ItemFeatures and UserFeatures are optional feature files.
	ItemFeatures, UserFeatures string
	// UserCol and ItemCol name the id columns of the edges file (required).
	UserCol, ItemCol string
	// WeightCol and TimeCol are optional; empty means weight 1 and time 0.
	WeightCol, TimeCol string
	// FeatureIDCol names the id column of the feature files; empty means 0.
	FeatureIDCol string
	// NumericCols forces feature columns to be numeric: a non-numeric
	// value in them is then an error instead of turning the column
	// categorical.
	NumericCols []string
	// Delimiter separates fields in every file; 0 means ','.
	Delimiter rune
	// NoHeader says the files have no header line (the default is one).
	NoHeader bool
	// Split applies when Test is empty; the zero value means DefaultSplit.
	Split Split
	// Progress, if non-nil, receives bytes and records read.
	Progress *Progress
}

// ParseCSV reads a delimited edges file (RFC 4180 quoting, CRLF allowed)
// and optional feature files.
//
// Ids are opaque strings (trimmed, at most MaxIDBytes), numbered in order
// of first appearance. Weight must be a finite number; time is a Unix time
// in seconds or an RFC 3339 / "2006-01-02 15:04:05" / "2006-01-02" date
// (UTC). Lines and records are at most MaxLineBytes.
//
// Feature files carry the node id in FeatureIDCol and features in every
// other column; each column's kind is decided from the whole file: all
// non-empty values written as numbers → numeric, taken as is ("numeric";
// with empty values also a "<name>_missing" 0/1 column), and then every
// value must be a finite float32 ("NaN", "Inf" or "1e400" is an error, not
// a label); otherwise, if any value holds '|' → multi-hot over the
// '|'-separated parts ("multihot"); otherwise one-hot ("onehot"). Labels
// are sorted. A feature row for an id absent
// from the edges, or a second row for one id, is an error; nodes without a
// row get zeros.
func ParseCSV(ctx context.Context, opts CSVOptions) (*dataset.Dataset, error) {
	if opts.Edges == "" {
		return nil, errors.New("ingest csv: no edges file given")
	}
	if opts.UserCol == "" || opts.ItemCol == "" {
		return nil, errors.New("ingest csv: user and item columns are required")
	}
	split := opts.Split
	if split.Kind == "" {
		split = DefaultSplit()
	}
	if opts.Test == "" {
		if err := split.validate(false); err != nil {
			return nil, fmt.Errorf("ingest csv: %w", err)
		}
	}
	users, items := newStrIDs(), newStrIDs()
	train, err := readCSVEdges(ctx, opts.Edges, opts, users, items)
	if err != nil {
		return nil, err
	}
	var test []dataset.Interaction
	if opts.Test != "" {
		if test, err = readCSVEdges(ctx, opts.Test, opts, users, items); err != nil {
			return nil, err
		}
	} else if train, test, err = ApplySplit(train, len(users.ext), split); err != nil {
		return nil, fmt.Errorf("ingest csv: %s: %w", opts.Edges, err)
	}
	ds := &dataset.Dataset{Name: opts.Name, UserIDs: users.ext, ItemIDs: items.ext, Train: train, Test: test}
	if ds.Name == "" {
		base := filepath.Base(opts.Edges)
		ds.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if opts.UserFeatures != "" {
		if ds.UserFeatures, err = readCSVFeatures(ctx, opts.UserFeatures, "user", opts, users); err != nil {
			return nil, err
		}
	}
	if opts.ItemFeatures != "" {
		if ds.ItemFeatures, err = readCSVFeatures(ctx, opts.ItemFeatures, "item", opts, items); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// csvFile reads records of one delimited file with line numbers.
type csvFile struct {
	path   string
	f      io.Closer
	r      *csv.Reader
	lim    *lineCap
	header []string // nil without header
	prog   *Progress
	rows   int64
}

func openCSV(path string, opts CSVOptions) (*csvFile, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	lim := &lineCap{r: &countingReader{r: bufReader(f), prog: opts.Progress}, path: path, recLine: 1}
	cr := csv.NewReader(lim)
	cr.Comma = opts.Delimiter
	if cr.Comma == 0 {
		cr.Comma = ','
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	c := &csvFile{path: path, f: f, r: cr, lim: lim, prog: opts.Progress}
	if !opts.NoHeader {
		rec, _, err := c.next()
		if err == io.EOF {
			f.Close()
			return nil, errf(path, 1, "file is empty")
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		c.header = make([]string, len(rec))
		for i, h := range rec {
			c.header[i] = strings.TrimSpace(h)
		}
	}
	return c, nil
}

// next returns the next record and its line, io.EOF at the end, or an
// *Error. Records hold text only: NUL bytes or invalid UTF-8 are errors.
func (c *csvFile) next() ([]string, int, error) {
	rec, err := c.r.Read()
	if err != nil {
		c.prog.add(0, c.rows%ctxCheckEvery)
		c.rows = 0
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		if e, ok := AsError(err); ok { // from lineCap
			return nil, e.Line, e
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, 0, &Error{File: c.path, Line: pe.Line, Reason: pe.Err.Error(), Err: err}
		}
		return nil, 0, &Error{File: c.path, Reason: err.Error(), Err: err}
	}
	line, _ := c.r.FieldPos(0)
	last, _ := c.r.FieldPos(len(rec) - 1)
	c.lim.mark(c.r.InputOffset(), last+strings.Count(rec[len(rec)-1], "\n"))
	c.rows++
	if c.rows%ctxCheckEvery == 0 {
		c.prog.add(0, ctxCheckEvery)
	}
	for _, f := range rec {
		if r := badBytes([]byte(f)); r != "" {
			return nil, line, errf(c.path, line, "%s", r)
		}
	}
	return rec, line, nil
}

func (c *csvFile) close() { c.f.Close() }

// col resolves a column reference (header name or 0-based index) given
// the field count of the first record.
func (c *csvFile) col(ref string, nfields int) (int, error) {
	ref = strings.TrimSpace(ref)
	if i := slices.Index(c.header, ref); i >= 0 {
		return i, nil
	}
	if i, err := strconv.Atoi(ref); err == nil && i >= 0 {
		if i < nfields {
			return i, nil
		}
		return 0, errf(c.path, 1, "column index %d out of range (%d columns)", i, nfields)
	}
	if c.header == nil {
		return 0, errf(c.path, 1, "unknown column %s (the file has no header; use a 0-based index)", quote(ref))
	}
	return 0, errf(c.path, 1, "unknown column %s (columns: %s)", quote(ref), columnList(c.header))
}

// readCSVEdges reads one edges file.
func readCSVEdges(ctx context.Context, path string, opts CSVOptions, users, items *strIDs) ([]dataset.Interaction, error) {
	c, err := openCSV(path, opts)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var es []dataset.Interaction
	ucol, icol, wcol, tcol := -1, -1, -1, -1
	nfields := 0
	for {
		rec, line, err := c.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(es)%ctxCheckEvery == 0 {
			if err := ctxErr(ctx); err != nil {
				return nil, err
			}
		}
		if ucol < 0 {
			nfields = len(rec)
			if c.header != nil {
				nfields = len(c.header)
			}
			if ucol, err = c.col(opts.UserCol, nfields); err != nil {
				return nil, err
			}
			if icol, err = c.col(opts.ItemCol, nfields); err != nil {
				return nil, err
			}
			if opts.WeightCol != "" {
				if wcol, err = c.col(opts.WeightCol, nfields); err != nil {
					return nil, err
				}
			}
			if opts.TimeCol != "" {
				if tcol, err = c.col(opts.TimeCol, nfields); err != nil {
					return nil, err
				}
			}
		}
		if len(rec) != nfields {
			return nil, errf(path, line, "want %d fields, got %d", nfields, len(rec))
		}
		hint := ""
		if line == 1 && c.header == nil {
			hint = " (a header line? use --header)"
		}
		u, it := strings.TrimSpace(rec[ucol]), strings.TrimSpace(rec[icol])
		for _, id := range [2]struct{ what, v string }{{"user", u}, {"item", it}} {
			if id.v == "" {
				return nil, errf(path, line, "%s id is empty", id.what)
			}
			if len(id.v) > MaxIDBytes {
				return nil, errf(path, line, "%s id %s is longer than %d bytes", id.what, quote(id.v), MaxIDBytes)
			}
		}
		e := dataset.Interaction{Weight: 1}
		if wcol >= 0 {
			w, err := strconv.ParseFloat(strings.TrimSpace(rec[wcol]), 32)
			if err != nil || math.IsInf(w, 0) || math.IsNaN(w) {
				return nil, errf(path, line, "weight %s is not a finite number%s", quote(rec[wcol]), hint)
			}
			e.Weight = float32(w)
		}
		if tcol >= 0 {
			t, reason := parseTime(strings.TrimSpace(rec[tcol]))
			if reason != "" {
				return nil, errf(path, line, "%s%s", reason, hint)
			}
			e.Time = t
		}
		e.User, e.Item = users.id(u), items.id(it)
		es = append(es, e)
	}
	if len(es) == 0 {
		if c.header == nil {
			return nil, errf(path, 1, "file is empty")
		}
		return nil, errf(path, 1, "no interactions after the header line")
	}
	return es, nil
}

// parseNumber parses a numeric feature value. isNum reports whether v is
// written as a number at all (NaN, infinities and out-of-range values
// included); reason says why it is not a finite float32, "" when it is.
func parseNumber(v string) (x float64, isNum bool, reason string) {
	x, err := strconv.ParseFloat(v, 32)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, true, "overflows float32 (max 3.4e38)"
	case err != nil:
		return 0, false, "is not a number"
	case math.IsNaN(x) || math.IsInf(x, 0):
		return 0, true, "is not a finite number"
	}
	return x, true, ""
}

// parseTime parses a Unix time in seconds or a date.
func parseTime(s string) (int64, string) {
	if t, reason := parseUnixTime([]byte(s)); reason == "" || strings.Contains(reason, "overflows") {
		return t, reason
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), ""
		}
	}
	return 0, fmt.Sprintf("time %s is not a Unix time or an RFC 3339 date", quote(s))
}

// featCol gathers one feature column's raw values before its kind is known.
type featCol struct {
	name     string
	vals     []string // by dense node id; "" = missing
	lines    []int    // line of each value, for errors
	forceNum bool
}

// readCSVFeatures reads one feature file for the nodes in ids.
func readCSVFeatures(ctx context.Context, path, what string, opts CSVOptions, ids *strIDs) (*dataset.Features, error) {
	c, err := openCSV(path, opts)
	if err != nil {
		return nil, err
	}
	defer c.close()
	n := len(ids.ext)
	seen := make([]int, n)
	var cols []*featCol
	idcol, nfields := -1, 0
	for {
		rec, line, err := c.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if idcol < 0 {
			if nfields = len(rec); c.header != nil {
				nfields = len(c.header)
			}
			ref := opts.FeatureIDCol
			if ref == "" {
				ref = "0"
			}
			if idcol, err = c.col(ref, nfields); err != nil {
				return nil, err
			}
			for i := 0; i < nfields; i++ {
				if i == idcol {
					continue
				}
				name := fmt.Sprintf("col%d", i)
				if c.header != nil && c.header[i] != "" {
					name = c.header[i]
				}
				cols = append(cols, &featCol{name: name, vals: make([]string, n), lines: make([]int, n)})
			}
			for _, ref := range opts.NumericCols {
				j, err := c.col(ref, nfields)
				if err != nil {
					return nil, err
				}
				if j == idcol {
					return nil, errf(path, 1, "numeric column %s is the id column", quote(ref))
				}
				if j > idcol {
					j--
				}
				cols[j].forceNum = true
			}
		}
		if len(rec) != nfields {
			return nil, errf(path, line, "want %d fields, got %d", nfields, len(rec))
		}
		id := strings.TrimSpace(rec[idcol])
		d, ok := ids.lookup(id)
		if !ok {
			return nil, errf(path, line, "feature row for unknown %s %s (not in the edges)", what, quote(id))
		}
		if seen[d] != 0 {
			return nil, errf(path, line, "duplicate feature row for %s %s (first at line %d)", what, quote(id), seen[d])
		}
		seen[d] = line
		j := 0
		for i, v := range rec {
			if i == idcol {
				continue
			}
			cols[j].vals[d] = strings.TrimSpace(v)
			cols[j].lines[d] = line
			j++
		}
	}
	if idcol < 0 {
		return nil, errf(path, 1, "no feature rows")
	}
	var blocks []block
	for _, fc := range cols {
		bs, err := fc.blocks(path)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, bs...)
	}
	if len(blocks) == 0 {
		return nil, errf(path, 1, "no feature columns besides the id")
	}
	return assemble(n, blocks), nil
}

// blocks decides the column's kind from all its values and encodes it.
//
// A column whose every non-empty value is written as a number is numeric,
// and then each value must be a finite float32: "NaN", "Inf" or "1e400"
// are errors, not one-hot labels.
func (fc *featCol) blocks(path string) ([]block, error) {
	n := len(fc.vals)
	nums := make([]float64, n)
	present := make([]bool, n)
	numeric, anyMissing, multi := true, false, false
	bad, badLine, badReason := -1, 0, "" // the invalid number on the first line
	for i, v := range fc.vals {
		if v == "" {
			anyMissing = true
			continue
		}
		x, isNum, reason := parseNumber(v)
		if !isNum {
			if fc.forceNum && (bad < 0 || fc.lines[i] < badLine) {
				bad, badLine, badReason = i, fc.lines[i], reason
			}
			numeric = false
		} else if reason != "" && (bad < 0 || fc.lines[i] < badLine) {
			bad, badLine, badReason = i, fc.lines[i], reason
		}
		nums[i], present[i] = x, true
		if strings.Contains(v, "|") {
			multi = true
		}
	}
	if bad >= 0 && (numeric || fc.forceNum) {
		return nil, errf(path, badLine, "column %s: value %s %s", quote(fc.name), quote(fc.vals[bad]), badReason)
	}
	if numeric {
		bs := []block{numericBlock(fc.name, nums, present, false)}
		if anyMissing {
			bs = append(bs, missingBlock(fc.name+"_missing", present))
		}
		return bs, nil
	}
	if !multi {
		labels, sets := oneHotLabels(fc.vals)
		return []block{hotBlock(fc.name, DerivOneHot, labels, sets)}, nil
	}
	parts := make([][]string, n)
	var labels []string
	for i, v := range fc.vals {
		for _, p := range strings.Split(v, "|") {
			if p = strings.TrimSpace(p); p != "" {
				parts[i] = append(parts[i], p)
				labels = append(labels, p)
			}
		}
	}
	slices.Sort(labels)
	labels = slices.Compact(labels)
	sets := make([][]int, n)
	for i, ps := range parts {
		for _, p := range ps {
			j, _ := slices.BinarySearch(labels, p)
			sets[i] = append(sets[i], j)
		}
	}
	return []block{hotBlock(fc.name, DerivMultiHot, labels, sets)}, nil
}
