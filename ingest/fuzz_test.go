package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/dataset"
)

// The fuzz targets feed arbitrary bytes to the parsers through files. Each
// input either parses to a data set that passes Validate and agrees with an
// independent reading of the same bytes, or fails with an *Error naming one
// of the input files, a line that exists in it, and a message of bounded
// length. Seed corpora live in testdata/fuzz/<FuzzName>/.

// maxReason bounds an error's reason: a few quotes of at most maxQuote
// bytes each (up to 4 characters per byte once escaped) and their text.
const maxReason = 12 * maxQuote

// fuzzFiles writes name/content pairs into dir, replacing what an earlier
// iteration left, and returns the paths.
func fuzzFiles(t *testing.T, dir string, kv ...any) []string {
	t.Helper()
	var paths []string
	for i := 0; i < len(kv); i += 2 {
		p := filepath.Join(dir, kv[i].(string))
		if err := os.WriteFile(p, kv[i+1].([]byte), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// checkInputError checks that err is an *Error naming one of files (by
// path, with its content) at a line the file has; line 0 (the file as a
// whole) only when allowWhole.
func checkInputError(t *testing.T, err error, files map[string][]byte, allowWhole bool) {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("error %T %v is not an *ingest.Error", err, err)
	}
	content, ok := files[e.File]
	if !ok {
		t.Fatalf("error names file %q, not an input: %v", e.File, err)
	}
	lines := bytes.Count(content, []byte("\n")) + 1
	if e.Line < 0 || e.Line == 0 && !allowWhole || e.Line > lines {
		t.Fatalf("error names line %d of a %d-line file: %v", e.Line, lines, err)
	}
	if len(e.Reason) > maxReason {
		t.Fatalf("reason is %d bytes: %.300s", len(e.Reason), e.Reason)
	}
}

// checkFeatures checks a parsed feature matrix holds finite values only.
func checkFeatures(t *testing.T, f *dataset.Features) {
	t.Helper()
	if f == nil {
		return
	}
	for i, v := range f.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("feature value %d is %v", i, v)
		}
	}
}

// edgeList renders es as sorted "user>item" pairs of external ids.
func edgeList(ds *dataset.Dataset, es ...[]dataset.Interaction) []string {
	var out []string
	for _, part := range es {
		for _, e := range part {
			out = append(out, ds.UserIDs[e.User]+">"+ds.ItemIDs[e.Item])
		}
	}
	slices.Sort(out)
	return out
}

// canonicalIDs checks numeric external ids are canonical decimals in
// ascending numeric order (the dense numbering of lightgcn and movielens).
func canonicalIDs(t *testing.T, what string, ids []string) {
	t.Helper()
	prev := int64(-1)
	for _, s := range ids {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil || strconv.FormatUint(v, 10) != s || int64(v) <= prev {
			t.Fatalf("%s ids %q are not ascending canonical integers", what, ids)
		}
		prev = int64(v)
	}
}

// lightgcnReference reads LightGCN bytes that parsed without error: the
// "user>item" pairs in canonical decimal, sorted.
func lightgcnReference(t *testing.T, files ...[]byte) []string {
	t.Helper()
	var out []string
	for _, b := range files {
		for _, line := range bytes.Split(b, []byte("\n")) {
			toks := bytes.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
			for i, tok := range toks {
				if i == 0 {
					continue
				}
				out = append(out, canonical(t, toks[0])+">"+canonical(t, tok))
			}
		}
	}
	slices.Sort(out)
	return out
}

func canonical(t *testing.T, tok []byte) string {
	t.Helper()
	s := strings.TrimLeft(string(tok), "0")
	if s == "" {
		s = "0"
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("token %q was accepted but is not a uint32: %v", tok, err)
	}
	return strconv.FormatUint(v, 10)
}

func FuzzLightGCN(f *testing.F) {
	f.Add([]byte("0 1 2\n1 2 3\n2 0\n"), []byte("0 3\n1 0\n"))
	f.Add([]byte("5 1\n\n5\t2  3\r\n7 1\n5 4"), []byte{})
	f.Add([]byte("user items\n0 1\n"), []byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, train, test []byte) {
		paths := fuzzFiles(t, dir, "train.txt", train, "test.txt", test)
		opts := LightGCNOptions{Train: paths[0], Split: DefaultSplit()}
		if len(test) > 0 {
			opts.Test = paths[1]
		}
		ds, err := ParseLightGCN(context.Background(), opts)
		if err != nil {
			files := map[string][]byte{paths[0]: train}
			if opts.Test != "" {
				files[paths[1]] = test
			}
			checkInputError(t, err, files, false)
			return
		}
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
		canonicalIDs(t, "user", ds.UserIDs)
		canonicalIDs(t, "item", ds.ItemIDs)
		ref := [][]byte{train}
		if opts.Test != "" {
			ref = append(ref, test)
		}
		if got, want := edgeList(ds, ds.Train, ds.Test), lightgcnReference(t, ref...); !slices.Equal(got, want) {
			t.Fatalf("edges %q, want %q", got, want)
		}
	})
}

// csvReference reads CSV bytes that parsed without error with
// encoding/csv: all records, the header included.
func csvReference(t *testing.T, b []byte, comma rune) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma, r.FieldsPerRecord = comma, -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parsed, but encoding/csv fails: %v", err)
	}
	return recs
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("user,item,rating,ts\nu1,i1,5,10\nu2,i1,3,2020-01-02\nu1,i2,1,5\n"), []byte("user,age,genre\nu1,3,a|b\nu2,,c\n"), uint8(0b10110))
	f.Add([]byte("a\tb\nb\tc\n\"x\ny\"\tz\n"), []byte{}, uint8(0b01001))
	f.Add([]byte("user,item\nu1,i1\n"), []byte("user,price\nu1,NaN\n"), uint8(0b10000))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, edges, feats []byte, flags uint8) {
		paths := fuzzFiles(t, dir, "e.csv", edges, "f.csv", feats)
		opts := CSVOptions{Edges: paths[0], UserCol: "0", ItemCol: "1", NoHeader: flags&1 != 0}
		if flags&2 != 0 {
			opts.WeightCol = "2"
		}
		if flags&4 != 0 {
			opts.TimeCol = "3"
		}
		if flags&8 != 0 {
			opts.Delimiter = '\t'
		}
		if flags&16 != 0 {
			opts.UserFeatures = paths[1]
			if flags&32 != 0 {
				opts.NumericCols = []string{"1"}
			}
		}
		ds, err := ParseCSV(context.Background(), opts)
		if err != nil {
			files := map[string][]byte{paths[0]: edges}
			if opts.UserFeatures != "" {
				files[paths[1]] = feats
			}
			checkInputError(t, err, files, false)
			return
		}
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, ids := range [][]string{ds.UserIDs, ds.ItemIDs} {
			for _, id := range ids {
				if id == "" || len(id) > MaxIDBytes || id != strings.TrimSpace(id) {
					t.Fatalf("id %q: empty, over %d bytes or untrimmed", id, MaxIDBytes)
				}
			}
		}
		for _, e := range slices.Concat(ds.Train, ds.Test) {
			if math.IsNaN(float64(e.Weight)) || math.IsInf(float64(e.Weight), 0) {
				t.Fatalf("weight %v", e.Weight)
			}
		}
		checkFeatures(t, ds.UserFeatures)
		comma := opts.Delimiter
		if comma == 0 {
			comma = ','
		}
		recs := csvReference(t, edges, comma)
		ucol, icol := 0, 1
		if !opts.NoHeader {
			// A header name takes precedence over an index: "1" may name
			// column 0.
			for i, h := range slices.Backward(recs[0]) {
				switch strings.TrimSpace(h) {
				case opts.UserCol:
					ucol = i
				case opts.ItemCol:
					icol = i
				}
			}
			recs = recs[1:]
		}
		var want []string
		for _, rec := range recs {
			want = append(want, strings.TrimSpace(rec[ucol])+">"+strings.TrimSpace(rec[icol]))
		}
		slices.Sort(want)
		if got := edgeList(ds, ds.Train, ds.Test); !slices.Equal(got, want) {
			t.Fatalf("edges %q, want %q", got, want)
		}
	})
}

func FuzzMovieLens(f *testing.F) {
	fx := func(name string) []byte { return []byte(mlFixture[name]) }
	f.Add(fx("u.data"), fx("u.item"), fx("u.user"), fx("u.genre"), fx("u.occupation"))
	f.Add(fx("u.data"), fx("u.item"), []byte("0|0|D|default_user|0000\n"+mlFixture["u.user"]), fx("u.genre"), fx("u.occupation"))
	f.Add([]byte("1\t10\t4\t881250949\n"), []byte("10|T\xe9l\xe9|01-Jan-1995||u|0|1\n"), []byte("1|24|M|other|1\n"), fx("u.genre"), []byte("other\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data, item, user, genre, occ []byte) {
		paths := fuzzFiles(t, dir, mlData, data, mlItem, item, mlUser, user, mlGenre, genre, mlOccupation, occ)
		ml, err := ParseMovieLens(context.Background(), MovieLensOptions{Dir: dir, Logger: quietLogger()})
		if err != nil {
			files := map[string][]byte{}
			for i, b := range [][]byte{data, item, user, genre, occ} {
				files[paths[i]] = b
			}
			checkInputError(t, err, files, true)
			return
		}
		if err := ml.Validate(); err != nil {
			t.Fatal(err)
		}
		canonicalIDs(t, "user", ml.UserIDs)
		canonicalIDs(t, "item", ml.ItemIDs)
		if len(ml.Titles) != ml.NumItems() {
			t.Fatalf("%d titles for %d items", len(ml.Titles), ml.NumItems())
		}
		checkFeatures(t, ml.UserFeatures)
		checkFeatures(t, ml.ItemFeatures)
		ratings := 0
		for _, line := range bytes.Split(data, []byte("\n")) {
			if !isBlank(line) {
				ratings++
			}
		}
		if n := len(ml.Train) + len(ml.Test); n != ratings {
			t.Fatalf("%d interactions from %d rating lines", n, ratings)
		}
		for _, e := range slices.Concat(ml.Train, ml.Test) {
			if !(e.Weight >= 1 && e.Weight <= 5) {
				t.Fatalf("rating %v", e.Weight)
			}
		}
	})
}
