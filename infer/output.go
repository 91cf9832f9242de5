package infer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/export"
)

// ManifestJSON is the file Merge writes into the output directory.
const ManifestJSON = "manifest.json"

// Part is one node type's rows in a shard.
type Part struct {
	// First is the local (per-type) id of the first row; Rows the count.
	First int `json:"first"`
	Rows  int `json:"rows"`
	// NPY and IDs are file names in the output directory.
	NPY string `json:"npy"`
	IDs string `json:"ids"`
}

// TopKPart describes a shard's top-K files.
type TopKPart struct {
	K int `json:"k"`
	// Items is int32 (users, K): item ids, -1 past the last valid item.
	Items string `json:"items"`
	// Scores is float32 (users, K): inner products, -Inf past the end.
	Scores string `json:"scores"`
}

// Source identifies what the embeddings were computed from.
type Source struct {
	// Model is the config's model name.
	Model string `json:"model"`
	// Checkpoint is the checkpoint file, with its step and epoch.
	Checkpoint string `json:"checkpoint"`
	Step       int    `json:"step"`
	Epoch      int    `json:"epoch"`
	// ParamsSHA256 is checkpoints.ParamsSHA256 of its tensors.
	ParamsSHA256 string `json:"params_sha256"`
	// ConfigHash is config.Hash of the config used.
	ConfigHash string `json:"config_hash"`
	// Fingerprint is the store's fingerprint; Store the directory given.
	Fingerprint string `json:"fingerprint"`
	Store       string `json:"store"`
	// NeighborEpoch is the epoch whose neighbourhoods were sampled.
	NeighborEpoch int `json:"neighbor_epoch"`
	// NumUsers, NumItems and Dim are the full shapes.
	NumUsers int `json:"num_users"`
	NumItems int `json:"num_items"`
	Dim      int `json:"dim"`
}

// ShardManifest is the content of shard-i-of-N.json: what one shard wrote.
type ShardManifest struct {
	Shard Shard `json:"shard"`
	Source
	// Nodes is the global id range the shard covers.
	Nodes Range `json:"nodes"`
	Users Part  `json:"users"`
	Items Part  `json:"items"`
	// TopK is set once TopKShard has run for the shard.
	TopK *TopKPart `json:"topk,omitempty"`
}

// Manifest is manifest.json: every shard of a complete output.
type Manifest struct {
	Source
	Count  int             `json:"shards"`
	Shards []ShardManifest `json:"shard_list"`
}

// MarshalJSON writes a Range as [lo, hi].
func (r Range) MarshalJSON() ([]byte, error) { return json.Marshal([2]int{r.Lo, r.Hi}) }

// UnmarshalJSON reads [lo, hi].
func (r *Range) UnmarshalJSON(b []byte) error {
	var a [2]int
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	r.Lo, r.Hi = a[0], a[1]
	return nil
}

// ShardManifestName is the file name of shard s's manifest.
func ShardManifestName(s Shard) string { return "shard-" + s.suffix() + ".json" }

var shardManifestRE = regexp.MustCompile(`^shard-(\d{5})-of-(\d{5})\.json$`)

// source describes m for manifests.
func (m *Model) source(dim int) Source {
	if m.params == "" {
		m.params = checkpoints.ParamsSHA256(m.ck.Tensors)
	}
	return Source{Model: m.cfg.Model.Model, Checkpoint: m.ck.Path, Step: m.ck.Step, Epoch: m.ck.Epoch,
		ParamsSHA256: m.params, ConfigHash: m.hash, Fingerprint: m.store.Fingerprint(),
		Store: m.storeDir, NeighborEpoch: m.epoch, NumUsers: m.numUsers, NumItems: m.numItems, Dim: dim}
}

// RunShard embeds shard s's nodes and writes its files and manifest into
// out (created if missing), replacing a previous run of the shard.
func (m *Model) RunShard(ctx context.Context, out string, s Shard) (*ShardManifest, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	r := NodeRange(m.numUsers+m.numItems, m.Chunk(), s)
	ids := make([]uint32, r.Len())
	for i := range ids {
		ids[i] = uint32(r.Lo + i)
	}
	vecs, dim, err := m.Embed(ctx, ids)
	if err != nil {
		return nil, err
	}
	ur, ir := split(r, m.numUsers)
	sm := &ShardManifest{Shard: s, Source: m.source(dim), Nodes: r,
		Users: Part{First: ur.Lo, Rows: ur.Len(), NPY: "users-" + s.suffix() + ".npy", IDs: "users-" + s.suffix() + ".tsv"},
		Items: Part{First: ir.Lo, Rows: ir.Len(), NPY: "items-" + s.suffix() + ".npy", IDs: "items-" + s.suffix() + ".tsv"}}
	userIDs, err := m.externalIDs(dataset.User, ur)
	if err != nil {
		return nil, err
	}
	itemIDs, err := m.externalIDs(dataset.Item, ir)
	if err != nil {
		return nil, err
	}
	nu := ur.Len() * dim
	err = writeShard(out, sm, []shardFile{
		{sm.Users.NPY, func(w io.Writer) error { return export.WriteNPY(w, vecs[:nu], ur.Len(), dim) }},
		{sm.Users.IDs, func(w io.Writer) error { return export.WriteIDMap(w, userIDs) }},
		{sm.Items.NPY, func(w io.Writer) error { return export.WriteNPY(w, vecs[nu:], ir.Len(), dim) }},
		{sm.Items.IDs, func(w io.Writer) error { return export.WriteIDMap(w, itemIDs) }},
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("infer: shard written", "shard", s.String(), "out", out, "users", ur.Len(), "items", ir.Len(), "dim", dim)
	return sm, nil
}

// externalIDs returns the store's external ids of local range r of type t.
func (m *Model) externalIDs(t dataset.NodeType, r Range) ([]string, error) {
	all, err := m.store.IDs(t)
	if err != nil {
		return nil, fmt.Errorf("infer: store %s: %w", m.storeDir, err)
	}
	if r.Hi > len(all) {
		return nil, fmt.Errorf("infer: store %s has %d %s ids, shard needs %d", m.storeDir, len(all), t, r.Hi)
	}
	return all[r.Lo:r.Hi], nil
}

// shardFile is one file of a shard and its writer.
type shardFile struct {
	name  string
	write func(io.Writer) error
}

// writeShard removes sm's manifest and the merged manifest (which would
// describe the old shard), writes files atomically, then sm's manifest: a
// shard whose manifest exists is complete, and manifest.json exists only
// while every shard it lists is unchanged.
func writeShard(out string, sm *ShardManifest, files []shardFile) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	man := filepath.Join(out, ShardManifestName(sm.Shard))
	for _, p := range []string{filepath.Join(out, ManifestJSON), man} {
		if err := removeIfExists(p); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := export.WriteFileAtomic(filepath.Join(out, f.name), f.write); err != nil {
			return fmt.Errorf("infer: shard %s: %w", sm.Shard, err)
		}
	}
	return writeJSON(man, sm)
}

func writeJSON(path string, v any) error {
	err := export.WriteFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	return nil
}

// ReadShardManifest reads out's manifest of shard s.
func ReadShardManifest(out string, s Shard) (*ShardManifest, error) {
	var sm ShardManifest
	if err := readJSON(filepath.Join(out, ShardManifestName(s)), &sm); err != nil {
		return nil, err
	}
	if sm.Shard != s {
		return nil, fmt.Errorf("infer: %s describes shard %s, not %s", filepath.Join(out, ShardManifestName(s)), sm.Shard, s)
	}
	return &sm, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("infer: %s: %w", path, err)
	}
	return nil
}

// Merge checks that out holds every shard 0..N-1 of one computation and
// writes manifest.json listing them. It fails, naming what is wrong, when
// shards are missing, their counts or sources differ, or their ranges do
// not tile the nodes; manifest.json is left as it was then.
func Merge(out string) (*Manifest, error) {
	shards, err := scanShards(out)
	if err != nil {
		return nil, err
	}
	if err := checkComplete(out, shards); err != nil {
		return nil, err
	}
	man := &Manifest{Source: shards[0].Source, Count: len(shards), Shards: shards}
	if err := writeJSON(filepath.Join(out, ManifestJSON), man); err != nil {
		return nil, err
	}
	return man, nil
}

// scanShards reads every shard manifest in out, by index.
func scanShards(out string) ([]ShardManifest, error) {
	ents, err := os.ReadDir(out)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	var shards []ShardManifest
	for _, e := range ents {
		mm := shardManifestRE.FindStringSubmatch(e.Name())
		if mm == nil {
			continue
		}
		i, _ := strconv.Atoi(mm[1])
		n, _ := strconv.Atoi(mm[2])
		sm, err := ReadShardManifest(out, Shard{Index: i, Count: n})
		if err != nil {
			return nil, err
		}
		shards = append(shards, *sm)
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("infer: %s holds no shard manifests (shard-*-of-*.json): run `trainerd infer --shard i/N` for each shard first", out)
	}
	slices.SortFunc(shards, func(a, b ShardManifest) int { return a.Shard.Index - b.Shard.Index })
	return shards, nil
}

// checkComplete verifies that shards (sorted by index) are 0..N-1 of one N
// and one source, and that their ranges tile the nodes.
func checkComplete(out string, shards []ShardManifest) error {
	n := shards[0].Shard.Count
	have := make([]bool, n)
	for _, sm := range shards {
		if sm.Shard.Count != n {
			return fmt.Errorf("infer: %s mixes shard counts: %s and %s (remove the stale run's files)", out,
				ShardManifestName(shards[0].Shard), ShardManifestName(sm.Shard))
		}
		have[sm.Shard.Index] = true
		if sm.Source != shards[0].Source {
			return fmt.Errorf("infer: %s: shards %s and %s were computed from different runs, checkpoints, configs or stores "+
				"(%s step %d, %s step %d): rerun the stale shards", out, shards[0].Shard, sm.Shard,
				shards[0].Checkpoint, shards[0].Step, sm.Checkpoint, sm.Step)
		}
	}
	var missing []string
	for i, ok := range have {
		if !ok {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("infer: %s is missing %d of %d shards (indices %s): run `trainerd infer --shard i/%d` for them",
			out, len(missing), n, strings.Join(missing, ","), n)
	}
	next := 0
	for _, sm := range shards {
		if sm.Nodes.Lo != next || sm.Nodes.Hi < sm.Nodes.Lo ||
			sm.Users.Rows+sm.Items.Rows != sm.Nodes.Len() {
			return fmt.Errorf("infer: %s: shard %s covers nodes %d..%d, expected to start at %d", out, sm.Shard, sm.Nodes.Lo, sm.Nodes.Hi, next)
		}
		next = sm.Nodes.Hi
	}
	if next != shards[0].NumUsers+shards[0].NumItems {
		return fmt.Errorf("infer: %s: shards cover nodes 0..%d of %d", out, next, shards[0].NumUsers+shards[0].NumItems)
	}
	return nil
}

// Read assembles the full embedding set of a merged output directory (its
// manifest.json): users and items in id order with their external ids and
// the store fingerprint. It checks every shard file against the manifest.
func Read(out string) (*export.Embeddings, *Manifest, error) {
	var man Manifest
	if err := readJSON(filepath.Join(out, ManifestJSON), &man); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("infer: %s has no %s: run `trainerd infer --merge --out %s` once every shard is written: %w",
				out, ManifestJSON, out, err)
		}
		return nil, nil, err
	}
	if len(man.Shards) != man.Count || man.Count == 0 {
		return nil, nil, fmt.Errorf("infer: %s lists %d shards of %d", filepath.Join(out, ManifestJSON), len(man.Shards), man.Count)
	}
	if err := checkComplete(out, man.Shards); err != nil {
		return nil, nil, err
	}
	e := &export.Embeddings{Dim: man.Dim, Fingerprint: man.Fingerprint,
		Users: make([]float32, 0, man.NumUsers*man.Dim), Items: make([]float32, 0, man.NumItems*man.Dim)}
	for _, sm := range man.Shards {
		for _, p := range []struct {
			part Part
			vec  *[]float32
			ids  *[]string
		}{{sm.Users, &e.Users, &e.UserIDs}, {sm.Items, &e.Items, &e.ItemIDs}} {
			v, err := readMatrix(filepath.Join(out, p.part.NPY), p.part.Rows, man.Dim)
			if err != nil {
				return nil, nil, err
			}
			*p.vec = append(*p.vec, v...)
			ids, err := readIDs(filepath.Join(out, p.part.IDs), p.part.Rows)
			if err != nil {
				return nil, nil, err
			}
			*p.ids = append(*p.ids, ids...)
		}
	}
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	return e, &man, nil
}

// readMatrix reads a float32 .npy and checks its shape.
func readMatrix(path string, rows, cols int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	defer f.Close()
	v, r, c, err := export.ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", path, err)
	}
	if r != rows || (c != cols && rows > 0) {
		return nil, fmt.Errorf("infer: %s is %d×%d, its manifest says %d×%d", path, r, c, rows, cols)
	}
	return v, nil
}

// readIDs reads an id map and checks its length.
func readIDs(path string, rows int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	defer f.Close()
	ids, err := export.ReadIDMap(f)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", path, err)
	}
	if len(ids) != rows {
		return nil, fmt.Errorf("infer: %s has %d ids, its manifest says %d rows", path, len(ids), rows)
	}
	return ids, nil
}

// Produced reports whether sm (a shard manifest, nil allowed) was written
// from this model: the same checkpoint parameters, config, store and
// neighbourhood epoch, so the shard need not be embedded again.
func (m *Model) Produced(sm *ShardManifest) bool {
	if sm == nil {
		return false
	}
	want := m.source(sm.Dim)
	got := sm.Source
	got.Checkpoint, want.Checkpoint = "", "" // the same parameters may sit in another file
	got.Store, want.Store = "", ""
	return got == want && sm.Nodes == NodeRange(m.numUsers+m.numItems, m.Chunk(), sm.Shard)
}
