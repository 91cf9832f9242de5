// Package export owns the on-disk form of trained embeddings: NumPy .npy
// matrices plus TSV id maps, the layout of the embedding set inside a run
// directory, atomic file writes, and loading the set back (Load) so that
// evaluation and serving need no model code.
//
// # Layout
//
// A trainer run directory RUN holds the embedding set in RUN/embeddings
// (EmbeddingsDir):
//
//	RUN/embeddings/users.npy   float32 '<f4', C order, shape (NumUsers, Dim); row u is dense user u
//	RUN/embeddings/items.npy   float32 '<f4', C order, shape (NumItems, Dim); row i is dense item i
//	RUN/embeddings/users.tsv   optional: "dense_id\texternal_id" header, then one line per user in dense order
//	RUN/embeddings/items.tsv   optional: the same for items
//	RUN/embeddings/manifest.json  optional: {"fingerprint", "users", "items", "dim"}
//
// The manifest records the fingerprint of the feature store the embeddings
// were trained on (featurestore.Store.Fingerprint), so that readers can
// refuse a different or regenerated store, whose ids and splits would not
// match the rows. SaveDir removes the old manifest before it replaces the
// matrices and writes the new one last, so a manifest always describes the
// matrices beside it.
//
// `trainerd export --out DIR` writes the same four file names directly into
// DIR. Every file is written atomically (temp file in the same directory,
// fsync, rename, fsync of the directory), so a reader never sees half a
// matrix. The package never writes outside the directory it is given.
package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trainerd/trainerd/internal/atomicfile"
)

// File and directory names of an embedding set.
const (
	// EmbeddingsDir is the run-directory subdirectory holding the set.
	EmbeddingsDir = "embeddings"
	// UsersNPY is the user embedding matrix.
	UsersNPY = "users.npy"
	// ItemsNPY is the item embedding matrix.
	ItemsNPY = "items.npy"
	// UsersTSV is the user id map (optional).
	UsersTSV = "users.tsv"
	// ItemsTSV is the item id map (optional).
	ItemsTSV = "items.tsv"
	// ManifestJSON records the store fingerprint and the matrix shapes
	// (optional; written when Embeddings.Fingerprint is set).
	ManifestJSON = "manifest.json"
	// TSVHeader is the first line of an id map.
	TSVHeader = "dense_id\texternal_id"
)

// Dir returns the embedding directory of a run directory: runDir/embeddings.
func Dir(runDir string) string { return filepath.Join(runDir, EmbeddingsDir) }

// Embeddings is one trained embedding set with its optional id maps.
type Embeddings struct {
	// Dim is the embedding dimension (the column count of both matrices).
	Dim int
	// Users is NumUsers×Dim, row-major; row u is dense user u.
	Users []float32
	// Items is NumItems×Dim, row-major.
	Items []float32
	// UserIDs and ItemIDs map dense id → external id; nil when the set has
	// no id maps (then the dense id is the only name).
	UserIDs []string
	ItemIDs []string
	// Fingerprint is the fingerprint of the feature store the embeddings
	// were trained on (featurestore.Store.Fingerprint); "" when unknown.
	// It is saved in and loaded from ManifestJSON.
	Fingerprint string
}

// Manifest is the JSON content of ManifestJSON.
type Manifest struct {
	// Fingerprint is the training store's fingerprint.
	Fingerprint string `json:"fingerprint"`
	// Users, Items and Dim are the matrix shapes the manifest describes.
	Users int `json:"users"`
	Items int `json:"items"`
	Dim   int `json:"dim"`
}

// NumUsers is the number of user rows.
func (e *Embeddings) NumUsers() int { return rows(len(e.Users), e.Dim) }

// NumItems is the number of item rows.
func (e *Embeddings) NumItems() int { return rows(len(e.Items), e.Dim) }

func rows(n, dim int) int {
	if dim <= 0 {
		return 0
	}
	return n / dim
}

// Validate checks the matrix sizes against Dim and the id maps' lengths.
func (e *Embeddings) Validate() error {
	if e.Dim <= 0 {
		return fmt.Errorf("export: embedding dim %d must be positive", e.Dim)
	}
	if len(e.Users)%e.Dim != 0 || len(e.Items)%e.Dim != 0 {
		return fmt.Errorf("export: %d user and %d item values do not divide into dim %d", len(e.Users), len(e.Items), e.Dim)
	}
	if e.UserIDs != nil && len(e.UserIDs) != e.NumUsers() {
		return fmt.Errorf("export: %d user ids for %d user rows", len(e.UserIDs), e.NumUsers())
	}
	if e.ItemIDs != nil && len(e.ItemIDs) != e.NumItems() {
		return fmt.Errorf("export: %d item ids for %d item rows", len(e.ItemIDs), e.NumItems())
	}
	return nil
}

// Save writes the set into runDir/embeddings (created if missing).
func Save(runDir string, e *Embeddings) error { return SaveDir(Dir(runDir), e) }

// SaveDir writes the set's files directly into dir (created if missing):
// users.npy, items.npy, and users.tsv / items.tsv when the id maps are set.
// Each file is replaced atomically.
func SaveDir(dir string, e *Embeddings) error { return SaveDirWith(dir, e, SaveOptions{}) }

// SaveOptions tunes SaveDirWith.
type SaveOptions struct {
	// Progress, when non-nil, is called as the files are written with the
	// number of bytes just written and the number all files take, so the
	// first numbers add up to the second.
	Progress func(n, total int64)
}

// SaveDirWith is SaveDir with options; the files are the same.
func SaveDirWith(dir string, e *Embeddings, opts SaveOptions) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// The old manifest describes the old matrices: drop it before they change.
	if err := os.Remove(filepath.Join(dir, ManifestJSON)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: %w", err)
	}
	man := Manifest{Fingerprint: e.Fingerprint, Users: e.NumUsers(), Items: e.NumItems(), Dim: e.Dim}
	var manJSON bytes.Buffer
	enc := json.NewEncoder(&manJSON)
	enc.SetIndent("", "  ")
	if err := enc.Encode(man); err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
		size  int64
		skip  bool
	}{
		{UsersNPY, func(w io.Writer) error { return WriteNPY(w, e.Users, e.NumUsers(), e.Dim) }, npySize(e.NumUsers(), e.Dim), false},
		{ItemsNPY, func(w io.Writer) error { return WriteNPY(w, e.Items, e.NumItems(), e.Dim) }, npySize(e.NumItems(), e.Dim), false},
		{UsersTSV, func(w io.Writer) error { return WriteIDMap(w, e.UserIDs) }, idMapSize(e.UserIDs), e.UserIDs == nil},
		{ItemsTSV, func(w io.Writer) error { return WriteIDMap(w, e.ItemIDs) }, idMapSize(e.ItemIDs), e.ItemIDs == nil},
		{ManifestJSON, func(w io.Writer) error {
			_, err := w.Write(manJSON.Bytes())
			return err
		}, int64(manJSON.Len()), e.Fingerprint == ""},
	}
	var total int64
	for _, f := range files {
		if !f.skip {
			total += f.size
		}
	}
	for _, f := range files {
		if f.skip {
			continue
		}
		write := f.write
		if opts.Progress != nil {
			write = func(w io.Writer) error { return f.write(&progressWriter{w: w, total: total, report: opts.Progress}) }
		}
		if err := WriteFileAtomic(filepath.Join(dir, f.name), write); err != nil {
			return err
		}
	}
	return nil
}

// npySize is the length of the .npy file WriteNPY writes for rows×cols.
func npySize(rows, cols int) int64 {
	return int64(len(NPYHeader(rows, cols))) + 4*int64(rows)*int64(cols)
}

// idMapSize is the length of the TSV WriteIDMap writes for ids.
func idMapSize(ids []string) int64 {
	n := int64(len(TSVHeader) + 1)
	for i, id := range ids {
		n += int64(len(strconv.Itoa(i)) + 1 + len(id) + 1)
	}
	return n
}

// progressWriter passes writes through and reports their sizes.
type progressWriter struct {
	w      io.Writer
	total  int64
	report func(n, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.report(int64(n), p.total)
	}
	return n, err
}

// Load reads the set in runDir/embeddings.
func Load(runDir string) (*Embeddings, error) { return LoadDir(Dir(runDir)) }

// LoadDir reads users.npy and items.npy from dir (both required, with the
// same column count), users.tsv / items.tsv when present (their line counts
// must match the matrices) and manifest.json when present (its shapes must
// match; it sets Fingerprint). A missing matrix gives an error wrapping
// fs.ErrNotExist.
func LoadDir(dir string) (*Embeddings, error) {
	e := &Embeddings{}
	var ucols, icols int
	var err error
	if e.Users, _, ucols, err = readNPYFile(filepath.Join(dir, UsersNPY)); err != nil {
		return nil, err
	}
	if e.Items, _, icols, err = readNPYFile(filepath.Join(dir, ItemsNPY)); err != nil {
		return nil, err
	}
	if ucols != icols {
		return nil, fmt.Errorf("export: %s has %d columns but %s has %d", filepath.Join(dir, UsersNPY), ucols, filepath.Join(dir, ItemsNPY), icols)
	}
	e.Dim = ucols
	for _, m := range []struct {
		name string
		dst  *[]string
		want int
	}{{UsersTSV, &e.UserIDs, e.NumUsers()}, {ItemsTSV, &e.ItemIDs, e.NumItems()}} {
		path := filepath.Join(dir, m.name)
		ids, err := readIDMapFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(ids) != m.want {
			return nil, fmt.Errorf("export: %s has %d ids for %d matrix rows", path, len(ids), m.want)
		}
		*m.dst = ids
	}
	if err := e.loadManifest(filepath.Join(dir, ManifestJSON)); err != nil {
		return nil, err
	}
	return e, nil
}

// loadManifest sets e.Fingerprint from the manifest at path, if there is
// one, after checking that it describes e's matrices.
func (e *Embeddings) loadManifest(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	if m.Fingerprint == "" {
		return fmt.Errorf("export: %s: no fingerprint", path)
	}
	if m.Users != e.NumUsers() || m.Items != e.NumItems() || m.Dim != e.Dim {
		return fmt.Errorf("export: %s describes %d users × %d items, dim %d, but the matrices beside it are %d × %d, dim %d",
			path, m.Users, m.Items, m.Dim, e.NumUsers(), e.NumItems(), e.Dim)
	}
	e.Fingerprint = m.Fingerprint
	return nil
}

func readNPYFile(path string) ([]float32, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	data, r, c, err := ReadNPY(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return data, r, c, nil
}

func readIDMapFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	ids, err := ReadIDMap(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// WriteIDMap writes ids as TSV: the TSVHeader line, then "i\tids[i]" per
// dense id i. An id containing a tab, newline or carriage return, or an
// empty id, is an error (it could not be read back).
func WriteIDMap(w io.Writer, ids []string) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(TSVHeader + "\n")
	for i, id := range ids {
		if id == "" || strings.ContainsAny(id, "\t\n\r") {
			return fmt.Errorf("export: id map: dense id %d: external id %q is empty or holds a tab or newline", i, id)
		}
		bw.WriteString(strconv.Itoa(i))
		bw.WriteByte('\t')
		bw.WriteString(id)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: write id map: %w", err)
	}
	return nil
}

// ReadIDMap reads a TSV id map written by WriteIDMap: the header line, then
// dense ids 0, 1, 2, ... in order, each with a non-empty external id.
// Errors name the offending line.
func ReadIDMap(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var ids []string
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			if text != TSVHeader {
				return nil, fmt.Errorf("export: id map line 1: header %q, want %q", text, TSVHeader)
			}
			continue
		}
		dense, ext, ok := strings.Cut(text, "\t")
		if !ok || ext == "" || strings.Contains(ext, "\t") {
			return nil, fmt.Errorf("export: id map line %d: %q is not dense_id<TAB>external_id", line, text)
		}
		n, err := strconv.Atoi(dense)
		if err != nil || n != len(ids) {
			return nil, fmt.Errorf("export: id map line %d: dense id %q, want %d (ids must be 0,1,2,... in order)", line, dense, len(ids))
		}
		ids = append(ids, ext)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("export: id map line %d: %w", line+1, err)
	}
	if line == 0 {
		return nil, errors.New("export: id map is empty (no header line)")
	}
	return ids, nil
}

// WriteFileAtomic creates path with the bytes write produces, atomically
// and durably (atomicfile.Write: temp file, fsync, rename, fsync of the
// directory). On any error the temp file is removed and path is left as it
// was. It is here for callers outside this module, which cannot import
// internal/atomicfile.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
