package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/trainerd/trainerd/dataset"
)

// MovieLensOptions configures ParseMovieLens.
type MovieLensOptions struct {
	// Name labels the data set; empty means the directory's base name.
	Name string
	// Dir holds u.data, u.item, u.user, u.genre and u.occupation.
	Dir string
	// Test, if non-empty, is a test file in u.data format (e.g. u1.test)
	// and Dir's u.data is then all train; otherwise Split divides u.data.
	Test string
	// Split applies when Test is empty; the zero value means DefaultSplit.
	Split Split
	// Progress, if non-nil, receives bytes and lines read.
	Progress *Progress
	// Logger receives warnings (skipped placeholder rows); nil means
	// slog.Default().
	Logger *slog.Logger
}

// MovieLens is a parsed MovieLens directory: the Dataset plus the item
// titles, which the Dataset has no place for.
type MovieLens struct {
	*dataset.Dataset
	// Titles[i] is the title of dense item i, decoded from Latin-1 to UTF-8.
	Titles []string
}

// MovieLens files inside MovieLensOptions.Dir.
const (
	mlData       = "u.data"
	mlItem       = "u.item"
	mlUser       = "u.user"
	mlGenre      = "u.genre"
	mlOccupation = "u.occupation"
)

// MovieLensFiles lists the files ParseMovieLens reads from dir, for
// progress totals.
func MovieLensFiles(dir string) []string {
	var out []string
	for _, f := range []string{mlData, mlGenre, mlOccupation, mlItem, mlUser} {
		out = append(out, filepath.Join(dir, f))
	}
	return out
}

// ParseMovieLens reads the MovieLens 100K layout:
//
//   - u.data: user \t item \t rating \t unix time; rating (1..5) becomes the
//     edge weight, time the edge time.
//   - u.item: id|title|release date|video release date|url|genre flags...;
//     Latin-1 text.
//   - u.user: id|age|gender|occupation|zip.
//   - u.genre (label|index) and u.occupation (one label a line) name the
//     one-hot and multi-hot labels.
//
// Users and items are those of u.data (and Test). Item features: "genre"
// (multihot, u.genre labels), "release_year" (numeric, z-scored over the
// items that have a date) and "release_year_missing" (numeric 0/1, 1 when
// the date is empty). User features: "age" (numeric, z-scored), "gender"
// (onehot, labels as found, sorted) and "occupation" (onehot, u.occupation
// labels). Every rated user and item needs a row; a row for an id without
// ratings is an error, except id 0, which MovieLens numbering (from 1)
// reserves: such a placeholder row (the shared ml-100k copy carries
// "0|0|D|default_user|0000") is skipped with a warning.
func ParseMovieLens(ctx context.Context, opts MovieLensOptions) (*MovieLens, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	split := opts.Split
	if split.Kind == "" {
		split = DefaultSplit()
	}
	if opts.Test == "" {
		if err := split.validate(false); err != nil {
			return nil, fmt.Errorf("ingest movielens: %w", err)
		}
	}
	dataPath := filepath.Join(opts.Dir, mlData)
	var users, items numIDs
	all, err := readMLData(ctx, dataPath, &users, &items, opts.Progress)
	if err != nil {
		return nil, err
	}
	var test []dataset.Interaction
	if opts.Test != "" {
		if test, err = readMLData(ctx, opts.Test, &users, &items, opts.Progress); err != nil {
			return nil, err
		}
	}
	genres, err := readMLGenres(ctx, filepath.Join(opts.Dir, mlGenre), opts.Progress)
	if err != nil {
		return nil, err
	}
	occs, err := readMLLabels(ctx, filepath.Join(opts.Dir, mlOccupation), opts.Progress)
	if err != nil {
		return nil, err
	}
	ur, uext := users.finish()
	ir, iext := items.finish()
	itemF, titles, err := readMLItems(ctx, filepath.Join(opts.Dir, mlItem), &items, ir, genres, opts.Progress, log)
	if err != nil {
		return nil, err
	}
	userF, err := readMLUsers(ctx, filepath.Join(opts.Dir, mlUser), &users, ur, occs, opts.Progress, log)
	if err != nil {
		return nil, err
	}
	renumber(all, ur, ir)
	renumber(test, ur, ir)
	train := all
	if opts.Test == "" {
		if train, test, err = ApplySplit(all, len(uext), split); err != nil {
			return nil, fmt.Errorf("ingest movielens: %s: %w", dataPath, err)
		}
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(opts.Dir))
	}
	ds := &dataset.Dataset{Name: name, UserIDs: uext, ItemIDs: iext, Train: train, Test: test,
		UserFeatures: userF, ItemFeatures: itemF}
	return &MovieLens{Dataset: ds, Titles: titles}, nil
}

// mlFields splits line on sep into at most len(dst) fields, returning the
// number found (which may exceed len(dst): then dst holds the first ones).
func mlFields(line []byte, sep byte, dst [][]byte) int {
	n := 0
	for {
		i := bytes.IndexByte(line, sep)
		if n < len(dst) {
			if i < 0 {
				dst[n] = line
			} else {
				dst[n] = line[:i]
			}
		}
		n++
		if i < 0 {
			return n
		}
		line = line[i+1:]
	}
}

// readMLData reads one u.data-format file.
func readMLData(ctx context.Context, path string, users, items *numIDs, prog *Progress) ([]dataset.Interaction, error) {
	var es []dataset.Interaction
	var f [4][]byte
	r, err := records(ctx, path, prog, '\t', f[:], "user, item, rating, time", false, func(r *lineReader, line []byte) error {
		u, ok := parseUint(bytes.TrimSpace(f[0]), math.MaxUint32)
		if !ok {
			if r.line == 1 && looksLikeHeader(line) {
				return errf(path, r.line, "unexpected header line %s: u.data has no header", quote(line))
			}
			return errf(path, r.line, "%s", idReason("user id", bytes.TrimSpace(f[0])))
		}
		it, ok := parseUint(bytes.TrimSpace(f[1]), math.MaxUint32)
		if !ok {
			return errf(path, r.line, "%s", idReason("item id", bytes.TrimSpace(f[1])))
		}
		rating, err := strconv.ParseFloat(string(bytes.TrimSpace(f[2])), 32)
		if err != nil || !(rating >= 1 && rating <= 5) {
			return errf(path, r.line, "rating %s is not a number in 1..5", quote(f[2]))
		}
		ts, reason := parseUnixTime(bytes.TrimSpace(f[3]))
		if reason != "" {
			return errf(path, r.line, "%s", reason)
		}
		es = append(es, dataset.Interaction{User: users.id(uint32(u)), Item: items.id(uint32(it)), Weight: float32(rating), Time: ts})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.empty() {
		return nil, errf(path, 1, "file is empty")
	}
	if len(es) == 0 {
		return nil, errf(path, r.line, "no ratings (only blank lines)")
	}
	return es, nil
}

// parseUnixTime parses a decimal Unix time in seconds (optionally signed).
func parseUnixTime(tok []byte) (int64, string) {
	neg := len(tok) > 0 && tok[0] == '-'
	digits := tok
	if neg || len(tok) > 0 && tok[0] == '+' {
		digits = tok[1:]
	}
	if !isDigits(digits) {
		return 0, fmt.Sprintf("timestamp %s is not an integer Unix time", quote(tok))
	}
	v, ok := parseUint(digits, math.MaxInt64)
	if !ok {
		return 0, fmt.Sprintf("timestamp %s overflows int64", quote(tok))
	}
	if neg {
		return -int64(v), ""
	}
	return int64(v), ""
}

// readMLGenres reads u.genre ("label|index" lines) into labels by index.
func readMLGenres(ctx context.Context, path string, prog *Progress) ([]string, error) {
	var labels []string
	var f [2][]byte
	_, err := records(ctx, path, prog, '|', f[:], "genre, index", false, func(r *lineReader, line []byte) error {
		idx, ok := parseUint(bytes.TrimSpace(f[1]), math.MaxInt32)
		if !ok || int(idx) != len(labels) {
			return errf(path, r.line, "genre index %s, want %d (indices count up from 0)", quote(f[1]), len(labels))
		}
		labels = append(labels, string(bytes.TrimSpace(f[0])))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		return nil, errf(path, 1, "no genres")
	}
	return labels, nil
}

// readMLLabels reads one label per non-blank line (u.occupation).
func readMLLabels(ctx context.Context, path string, prog *Progress) ([]string, error) {
	var labels []string
	seen := map[string]int{}
	_, err := records(ctx, path, prog, 0, nil, "", false, func(r *lineReader, line []byte) error {
		l := string(bytes.TrimSpace(line))
		if first, dup := seen[l]; dup {
			return errf(path, r.line, "duplicate label %s (first at line %d)", quote(l), first)
		}
		seen[l] = r.line
		labels = append(labels, l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		return nil, errf(path, 1, "no labels")
	}
	return labels, nil
}

// latin1 decodes ISO-8859-1 bytes to a UTF-8 string.
func latin1(b []byte) string {
	buf := make([]byte, 0, len(b)+8)
	for _, c := range b {
		buf = utf8.AppendRune(buf, rune(c))
	}
	return string(buf)
}

// rowKey resolves the id field of a u.item/u.user row to a final dense id.
// skip is true for a placeholder row of id 0 that has no ratings.
func rowKey(path string, line int, what string, tok []byte, ids *numIDs, remap []uint32, seen []int, log *slog.Logger) (dense int, skip bool, err error) {
	v, ok := parseUint(bytes.TrimSpace(tok), math.MaxUint32)
	if !ok {
		return 0, false, errf(path, line, "%s", idReason(what, bytes.TrimSpace(tok)))
	}
	prov, known := ids.lookup(uint32(v))
	if !known {
		if v == 0 {
			log.Warn("skipping placeholder row: MovieLens ids start at 1 and id 0 has no ratings", "file", path, "line", line)
			return 0, true, nil
		}
		return 0, false, errf(path, line, "row for %s %d, which has no ratings in %s", what, v, mlData)
	}
	d := int(remap[prov])
	if seen[d] != 0 {
		return 0, false, errf(path, line, "duplicate row for %s %d (first at line %d)", what, v, seen[d])
	}
	seen[d] = line
	return d, false, nil
}

// missingRow returns an error naming the first node without a row.
func missingRow(path, what string, seen []int, ext []uint32, remap []uint32) error {
	for prov, final := range remap {
		if seen[final] == 0 {
			return errf(path, 0, "no row for %s %d, which has ratings in %s", what, ext[prov], mlData)
		}
	}
	return nil
}

// readMLItems reads u.item into item features and titles.
func readMLItems(ctx context.Context, path string, items *numIDs, remap []uint32, genres []string, prog *Progress, log *slog.Logger) (*dataset.Features, []string, error) {
	n := items.len()
	want := 5 + len(genres)
	f := make([][]byte, want)
	seen := make([]int, n)
	titles := make([]string, n)
	years := make([]float64, n)
	hasYear := make([]bool, n)
	sets := make([][]int, n)
	_, err := records(ctx, path, prog, '|', f, fmt.Sprintf("id, title, release date, video date, url, %d genre flags", len(genres)), true, func(r *lineReader, line []byte) error {
		d, skip, err := rowKey(path, r.line, "item", f[0], items, remap, seen, log)
		if err != nil {
			return err
		}
		if skip {
			return nil
		}
		titles[d] = latin1(f[1])
		if date := bytes.TrimSpace(f[2]); len(date) > 0 {
			t, err := time.Parse("2-Jan-2006", string(date))
			if err != nil {
				return errf(path, r.line, "release date %s is not D-Mon-YYYY", quote(latin1(date)))
			}
			years[d], hasYear[d] = float64(t.Year()), true
		}
		for g := range genres {
			switch string(bytes.TrimSpace(f[5+g])) {
			case "1":
				sets[d] = append(sets[d], g)
			case "0":
			default:
				return errf(path, r.line, "genre flag %s (%s) is not 0 or 1", quote(latin1(f[5+g])), clipped(genres[g]))
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := missingRow(path, "item", seen, items.ext, remap); err != nil {
		return nil, nil, err
	}
	feats := assemble(n, []block{
		hotBlock("genre", DerivMultiHot, genres, sets),
		numericBlock("release_year", years, hasYear, true),
		missingBlock("release_year_missing", hasYear),
	})
	return feats, titles, nil
}

// readMLUsers reads u.user into user features.
func readMLUsers(ctx context.Context, path string, users *numIDs, remap []uint32, occs []string, prog *Progress, log *slog.Logger) (*dataset.Features, error) {
	n := users.len()
	occIdx := make(map[string]int, len(occs))
	for i, o := range occs {
		occIdx[o] = i
	}
	seen := make([]int, n)
	ages := make([]float64, n)
	hasAge := make([]bool, n)
	genders := make([]string, n)
	occSets := make([][]int, n)
	var f [5][]byte
	_, err := records(ctx, path, prog, '|', f[:], "id, age, gender, occupation, zip", false, func(r *lineReader, line []byte) error {
		d, skip, err := rowKey(path, r.line, "user", f[0], users, remap, seen, log)
		if err != nil {
			return err
		}
		if skip {
			return nil
		}
		age, ok := parseUint(bytes.TrimSpace(f[1]), 200)
		if !ok {
			return errf(path, r.line, "age %s is not a non-negative integer up to 200", quote(f[1]))
		}
		ages[d], hasAge[d] = float64(age), true
		g := string(bytes.TrimSpace(f[2]))
		if g == "" {
			return errf(path, r.line, "gender is empty")
		}
		genders[d] = g
		o := string(bytes.TrimSpace(f[3]))
		oi, ok := occIdx[o]
		if !ok {
			return errf(path, r.line, "occupation %s is not listed in %s", quote(o), mlOccupation)
		}
		occSets[d] = []int{oi}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := missingRow(path, "user", seen, users.ext, remap); err != nil {
		return nil, err
	}
	gLabels, gSets := oneHotLabels(genders)
	return assemble(n, []block{
		numericBlock("age", ages, hasAge, true),
		hotBlock("gender", DerivOneHot, gLabels, gSets),
		hotBlock("occupation", DerivOneHot, occs, occSets),
	}), nil
}
