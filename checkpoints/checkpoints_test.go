package checkpoints

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample(step int) *Checkpoint {
	return &Checkpoint{
		Header: Header{
			Position: Position{Epoch: 2, Step: step, BatchCursor: 7, RNG: []byte{1, 2, 3, byte(step)},
				CurriculumEpoch: 2, CurriculumStep: step},
			ConfigHash: "cfg", Fingerprint: "fp",
			WallTime:     time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			TrainSeconds: 12.5,
		},
		Tensors: []Tensor{
			{Name: "param/user", Shape: []int{3, 2}, Data: []float32{1, -2, 3.5, float32(step), float32(math.Inf(1)), 0}},
			{Name: "param/bias", Shape: []int{}, Data: []float32{0.25}},
			{Name: "opt/m", Shape: []int{2, 0}, Data: []float32{}},
			{Name: "opt/v", Shape: []int{4}, Data: []float32{1e-30, 2, 3, 4}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ck := sample(42)
	path, err := Save(dir, ck, 3)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "ckpt-42.trd" {
		t.Fatalf("path %s", path)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Position, ck.Position) || got.ConfigHash != "cfg" || got.Fingerprint != "fp" ||
		!got.WallTime.Equal(ck.WallTime) || got.TrainSeconds != 12.5 {
		t.Fatalf("header: got %+v want %+v", got.Header, ck.Header)
	}
	if len(got.Tensors) != len(ck.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(ck.Tensors))
	}
	for i, tt := range ck.Tensors {
		g := got.Tensors[i]
		if g.Name != tt.Name || !reflect.DeepEqual(g.Shape, tt.Shape) || len(g.Data) != len(tt.Data) {
			t.Fatalf("tensor %d: got %+v want %+v", i, g, tt)
		}
		for j := range tt.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(tt.Data[j]) {
				t.Fatalf("tensor %s[%d] = %v, want %v", tt.Name, j, g.Data[j], tt.Data[j])
			}
		}
	}
	if ParamsSHA256(got.Tensors) != ParamsSHA256(ck.Tensors) {
		t.Fatal("params hash changed")
	}
}

func TestEncodeRejectsBadShape(t *testing.T) {
	ck := sample(1)
	ck.Tensors[0].Shape = []int{4, 2}
	if err := Encode(&bytes.Buffer{}, ck); err == nil || !strings.Contains(err.Error(), "param/user") {
		t.Fatalf("want an error naming param/user, got %v", err)
	}
}

// TestCorruptionFallsBack truncates the newest file at every length and flips
// every bit of one byte class, checking Latest reports it and uses the older one.
func TestCorruptionFallsBack(t *testing.T) {
	dir := t.TempDir()
	if _, err := Save(dir, sample(10), 0); err != nil {
		t.Fatal(err)
	}
	newest, err := Save(dir, sample(20), 0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.LittleEndian.Uint32(good[12:]))
	classes := map[string]bool{}
	class := func(n int) string {
		switch {
		case n == 0:
			return "empty"
		case n < 8:
			return "magic"
		case n < prefixLen:
			return "version/hlen"
		case n < prefixLen+hlen:
			return "header"
		case n < len(good)-trailerLen:
			return "data"
		default:
			return "trailer"
		}
	}
	check := func(t *testing.T, what string) {
		t.Helper()
		ck, skipped, err := Latest(dir)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ck.Step != 10 {
			t.Fatalf("%s: Latest used step %d, want 10", what, ck.Step)
		}
		if len(skipped) != 1 || skipped[0].Path != newest || !errors.Is(skipped[0].Err, ErrCorrupt) {
			t.Fatalf("%s: skipped = %+v", what, skipped)
		}
	}
	for n := 0; n < len(good); n++ {
		if err := os.WriteFile(newest, good[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		classes[class(n)] = true
		check(t, "truncated to "+class(n))
	}
	if len(classes) != 6 {
		t.Fatalf("covered truncation classes %v", classes)
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 1 << (i % 8)
		if err := os.WriteFile(newest, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, "bit flip in "+class(i))
	}
	// Restored, the newest is used again.
	if err := os.WriteFile(newest, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if ck, skipped, err := Latest(dir); err != nil || ck.Step != 20 || len(skipped) != 0 {
		t.Fatalf("restored: step %v skipped %v err %v", ck, skipped, err)
	}
	// List reports the invalid one.
	os.WriteFile(newest, good[:len(good)-1], 0o644)
	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || !infos[0].Valid || infos[1].Valid || infos[1].Step != 20 || infos[1].Error == "" ||
		infos[0].ParamsSHA256 != ParamsSHA256(sample(10).Tensors) {
		t.Fatalf("List = %+v", infos)
	}
}

func TestLatestEmpty(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		if _, _, err := Latest(dir); !errors.Is(err, ErrNoCheckpoint) {
			t.Fatalf("%s: %v", dir, err)
		}
	}
}

func TestKeepLast(t *testing.T) {
	tests := []struct {
		keep int
		want []int
	}{
		{1, []int{50}},
		{3, []int{30, 40, 50}},
		{10, []int{10, 20, 30, 40, 50}},
		{0, []int{10, 20, 30, 40, 50}},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		for _, s := range []int{10, 20, 30, 40, 50} {
			if _, err := Save(dir, sample(s), tt.keep); err != nil {
				t.Fatal(err)
			}
		}
		infos, err := List(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, in := range infos {
			got = append(got, in.Step)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("keep %d: steps %v, want %v", tt.keep, got, tt.want)
		}
	}
	// The file just written is never pruned, even when older by step.
	dir := t.TempDir()
	Save(dir, sample(100), 1)
	p, err := Save(dir, sample(5), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("just-written checkpoint pruned: %v", err)
	}
}

func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	if _, err := Save(dir, sample(1), 3); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("simulated crash")
	if _, err := save(dir, sample(2), 3, func(stage string) error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("save = %v", err)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp"))
	if len(temps) != 1 {
		t.Fatalf("want one temp file after the crash, got %v", temps)
	}
	if st, _ := os.Stat(temps[0]); st.Size() == 0 {
		t.Fatal("temp file is empty: the crash came after the write")
	}
	ck, skipped, err := Latest(dir)
	if err != nil || ck.Step != 1 || len(skipped) != 0 {
		t.Fatalf("Latest after crash: %v %v %v", ck, skipped, err)
	}
	if infos, _ := List(dir); len(infos) != 1 {
		t.Fatalf("List sees %d files", len(infos))
	}
	if _, err := Save(dir, sample(3), 3); err != nil {
		t.Fatal(err)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp")); len(temps) != 0 {
		t.Fatalf("temp files survive a later Save: %v", temps)
	}
}

func TestCheck(t *testing.T) {
	ck := sample(1)
	ck.Path = "x/ckpt-1.trd"
	tests := []struct {
		name      string
		hash, fp  string
		force     bool
		wantField string
	}{
		{"compatible", "cfg", "fp", false, ""},
		{"config differs", "other", "fp", false, "config_hash"},
		{"data differs", "cfg", "other", false, "fingerprint"},
		{"both differ names config first", "x", "y", false, "config_hash"},
		{"forced", "other", "other", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ck.Check(tt.hash, tt.fp, tt.force)
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *MismatchError
			if !errors.As(err, &me) || !errors.Is(err, ErrIncompatible) {
				t.Fatalf("err = %v", err)
			}
			if me.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), "x/ckpt-1.trd") {
				t.Fatalf("err = %v, want field %s", err, tt.wantField)
			}
		})
	}
}

func TestIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"ckpt-.trd", "ckpt-1x.trd", "notes.txt", "ckpt-7.trd.bak"} {
		os.WriteFile(filepath.Join(dir, n), []byte("junk"), 0o644)
	}
	if infos, err := List(dir); err != nil || len(infos) != 0 {
		t.Fatalf("List = %v, %v", infos, err)
	}
}

func BenchmarkSave(b *testing.B) {
	dir := b.TempDir()
	ck := sample(1)
	ck.Tensors = []Tensor{{Name: "param/emb", Shape: []int{100000, 64}, Data: make([]float32, 6_400_000)}}
	b.SetBytes(4 * 6_400_000)
	for i := 0; b.Loop(); i++ {
		ck.Step = i
		if _, err := Save(dir, ck, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	ck := sample(1)
	ck.Tensors = []Tensor{{Name: "param/emb", Shape: []int{100000, 64}, Data: make([]float32, 6_400_000)}}
	p, err := Save(dir, ck, 2)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * 6_400_000)
	for b.Loop() {
		if _, err := Read(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeepLastCountsOnlyValid puts stray files named like checkpoints into
// the directory (garbage at a step above every real one, a truncated copy,
// a valid checkpoint of another config) and requires keep_last to keep that
// many valid checkpoints of this run: corrupt files are moved to corrupt/
// (not deleted, not counted), the other config's older checkpoint is pruned.
func TestKeepLastCountsOnlyValid(t *testing.T) {
	tests := []struct {
		name  string
		keep  int
		stray map[string][]byte // file name → contents
		// want: steps left in dir; moved: names in corrupt/
		want  []int
		moved []string
	}{
		{"garbage at a high step", 2, map[string][]byte{"ckpt-99999.trd": []byte("not a checkpoint")},
			[]int{40, 50}, []string{"ckpt-99999.trd"}},
		{"empty file", 1, map[string][]byte{"ckpt-45.trd": {}}, []int{50}, []string{"ckpt-45.trd"}},
		{"two garbage files", 3, map[string][]byte{"ckpt-7.trd": []byte("x"), "ckpt-100000.trd": []byte("TRDCKPT\x00junk")},
			[]int{30, 40, 50}, []string{"ckpt-100000.trd", "ckpt-7.trd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.stray {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w := NewWriter(dir, tt.keep)
			for _, s := range []int{10, 20, 30, 40, 50} {
				if _, err := w.Save(sample(s)); err != nil {
					t.Fatal(err)
				}
			}
			infos, err := List(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, in := range infos {
				if !in.Valid {
					t.Errorf("invalid file still counted in dir: %s (%s)", in.Path, in.Error)
				}
				got = append(got, in.Step)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("steps %v, want %v", got, tt.want)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, CorruptDir))
			var moved []string
			for _, e := range ents {
				moved = append(moved, e.Name())
			}
			if !reflect.DeepEqual(moved, tt.moved) {
				t.Errorf("corrupt/ holds %v, want %v", moved, tt.moved)
			}
			for _, name := range tt.moved {
				b, err := os.ReadFile(filepath.Join(dir, CorruptDir, name))
				if err != nil || !bytes.Equal(b, tt.stray[name]) {
					t.Errorf("%s was not moved intact: %v", name, err)
				}
			}
		})
	}

	t.Run("other format version", func(t *testing.T) {
		// A checkpoint of a newer format is not corrupt: it is left in
		// place, and not counted.
		dir := t.TempDir()
		var buf bytes.Buffer
		if err := Encode(&buf, sample(99)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		binary.LittleEndian.PutUint32(b[8:], Version+1)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		newer := filepath.Join(dir, Name(99))
		if err := os.WriteFile(newer, b, 0o644); err != nil {
			t.Fatal(err)
		}
		w := NewWriter(dir, 2)
		for _, s := range []int{10, 20, 30} {
			if _, err := w.Save(sample(s)); err != nil {
				t.Fatal(err)
			}
		}
		infos, _ := List(dir)
		var got []int
		for _, in := range infos {
			got = append(got, in.Step)
		}
		if !reflect.DeepEqual(got, []int{20, 30, 99}) {
			t.Fatalf("steps %v, want [20 30 99] (two valid kept, the newer-format file untouched)", got)
		}
	})

	t.Run("other config", func(t *testing.T) {
		dir := t.TempDir()
		other := sample(5)
		other.ConfigHash = "another"
		if _, err := Save(dir, other, 0); err != nil {
			t.Fatal(err)
		}
		w := NewWriter(dir, 2)
		for _, s := range []int{10, 20} {
			if _, err := w.Save(sample(s)); err != nil {
				t.Fatal(err)
			}
		}
		infos, _ := List(dir)
		if len(infos) != 2 || infos[0].Step != 10 || infos[1].Step != 20 {
			t.Fatalf("after a forced resume the older checkpoint of another config should be pruned and not counted: %+v", infos)
		}
	})
}

// TestMoveAsideNeverOverwrites moves two files of the same name aside.
func TestMoveAsideNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt-3.trd")
	for i, body := range []string{"first", "second"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		dst, err := MoveAside(p)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, CorruptDir, "ckpt-3.trd")
		if i == 1 {
			want += ".1"
		}
		if b, _ := os.ReadFile(dst); dst != want || string(b) != body {
			t.Fatalf("moved to %s holding %q, want %s holding %q", dst, b, want, body)
		}
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source still present: %v", err)
	}
}

// TestEpochLossRoundTrip stores the running loss of a partial epoch,
// non-finite values included, and reads it back bit for bit.
func TestEpochLossRoundTrip(t *testing.T) {
	for _, v := range []float64{0, 1.0 / 3, -2.5e-300, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
		dir := t.TempDir()
		ck := sample(4)
		ck.EpochLossSum, ck.EpochLossCount, ck.EpochExamples = Float(v), 17, 2176
		p, err := Save(dir, ck, 1)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		got, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(float64(got.EpochLossSum)) != math.Float64bits(v) && !(math.IsNaN(v) && math.IsNaN(float64(got.EpochLossSum))) {
			t.Errorf("loss sum %v read back as %v", v, got.EpochLossSum)
		}
		if got.EpochLossCount != 17 || got.EpochExamples != 2176 {
			t.Errorf("count/examples %d/%d", got.EpochLossCount, got.EpochExamples)
		}
	}
}
