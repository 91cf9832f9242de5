package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNPYHeaderGolden checks the 2×3 header byte for byte against the NumPy
// format spec (numpy/lib/format.py, version 1.0): the 6-byte magic
// "\x93NUMPY", version bytes 1 and 0, a little-endian uint16 header length,
// then the dict literal padded with spaces and ended by '\n' so that the
// whole preamble is a multiple of 64 bytes.
//
// The dict literal is 59 bytes; 10 + 59 + 1 = 70, so 58 spaces of padding
// make 128 and the header length is 59 + 58 + 1 = 118 = 0x76.
func TestNPYHeaderGolden(t *testing.T) {
	want := "\x93NUMPY" + "\x01\x00" + "\x76\x00" +
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
		strings.Repeat(" ", 58) + "\n"
	if len(want) != 128 {
		t.Fatalf("hand-written header is %d bytes, want 128", len(want))
	}
	if got := string(NPYHeader(2, 3)); got != want {
		t.Fatalf("header\n got %q\nwant %q", got, want)
	}
	var buf bytes.Buffer
	data := []float32{1, 2, 3, 4, 5, 6.5}
	if err := WriteNPY(&buf, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != 128+24 || string(b[:128]) != want {
		t.Fatalf("file is %d bytes with header %q", len(b), b[:min(len(b), 128)])
	}
	// Body: little-endian IEEE float32 in C order; 6.5 = 0x40D00000.
	if got := binary.LittleEndian.Uint32(b[128+20:]); got != 0x40D00000 {
		t.Fatalf("last value bits %#x, want 0x40d00000", got)
	}
	for _, shape := range [][2]int{{0, 0}, {1, 1}, {29858, 64}, {123456789, 1000}} {
		if n := len(NPYHeader(shape[0], shape[1])); n%64 != 0 {
			t.Errorf("header for %v is %d bytes, not a multiple of 64", shape, n)
		}
	}
}

func TestNPYRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols int
	}{{"empty", 0, 4}, {"one", 1, 1}, {"2x3", 2, 3}, {"tall", 5000, 7}} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]float32, tc.rows*tc.cols)
			for i := range data {
				data[i] = float32(i)*0.25 - 3
			}
			if len(data) > 2 {
				data[1] = float32(math.Inf(-1))
				data[2] = -0.0
			}
			var buf bytes.Buffer
			if err := WriteNPY(&buf, data, tc.rows, tc.cols); err != nil {
				t.Fatal(err)
			}
			got, r, c, err := ReadNPY(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if r != tc.rows || c != tc.cols || !slices.Equal(got, data) {
				t.Fatalf("read (%d,%d) %v..., want (%d,%d)", r, c, got[:min(len(got), 4)], tc.rows, tc.cols)
			}
		})
	}
	if err := WriteNPY(&bytes.Buffer{}, make([]float32, 5), 2, 3); err == nil {
		t.Error("WriteNPY with 5 values for (2,3): no error")
	}
}

// npyWith builds a v1.0 file with the given dict and body.
func npyWith(dict string, body []byte) []byte {
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	h := dict + strings.Repeat(" ", pad) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(b, h...), body...)
}

func TestReadNPYRejects(t *testing.T) {
	body := make([]byte, 24)
	good := npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", body)
	if _, _, _, err := ReadNPY(bytes.NewReader(good)); err != nil {
		t.Fatalf("control case failed: %v", err)
	}
	// Other spellings NumPy may produce are accepted.
	for _, dict := range []string{
		"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
		`{"descr": "<f4", "fortran_order": False, "shape": (2,3)}`,
	} {
		if _, r, c, err := ReadNPY(bytes.NewReader(npyWith(dict, body))); err != nil || r != 2 || c != 3 {
			t.Errorf("%s: (%d,%d) %v", dict, r, c, err)
		}
	}
	for _, tc := range []struct {
		name, wantMsg string
		file          []byte
	}{
		{"empty", "magic", nil},
		{"bad magic", "magic", append([]byte("\x93NUMPX"), good[6:]...)},
		{"version", "version 4.0", append([]byte("\x93NUMPY\x04\x00"), good[8:]...)},
		{"truncated header", "truncated", good[:50]},
		{"float64", "dtype \"<f8\"", npyWith("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 48))},
		{"big endian", "dtype \">f4\"", npyWith("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", body)},
		{"fortran", "fortran_order True", npyWith("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", body)},
		{"1-D", "1 dimensions", npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", body)},
		{"3-D", "3 dimensions", npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", body)},
		{"missing key", "missing key \"shape\"", npyWith("{'descr': '<f4', 'fortran_order': False, }", body)},
		{"extra key", "unexpected key", npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", body)},
		{"negative", "shape is not", npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", body)},
		{"garbage", "does not start", npyWith("hello", body)},
		{"short body", "data truncated", good[:len(good)-1]},
		{"trailing", "trailing bytes", append(append([]byte{}, good...), 0)},
		{"huge", "too large", npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ReadNPY(bytes.NewReader(tc.file))
			if !errors.Is(err, ErrNPY) {
				t.Fatalf("err = %v, want ErrNPY", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestIDMap(t *testing.T) {
	var buf bytes.Buffer
	ids := []string{"u17", "42", "ünï"}
	if err := WriteIDMap(&buf, ids); err != nil {
		t.Fatal(err)
	}
	if want := "dense_id\texternal_id\n0\tu17\n1\t42\n2\tünï\n"; buf.String() != want {
		t.Fatalf("tsv %q, want %q", buf.String(), want)
	}
	got, err := ReadIDMap(&buf)
	if err != nil || !slices.Equal(got, ids) {
		t.Fatalf("read %v %v, want %v", got, err, ids)
	}
	if err := WriteIDMap(&bytes.Buffer{}, []string{"a\tb"}); err == nil {
		t.Error("id with a tab: no error")
	}
	for _, tc := range []struct{ name, text, msg string }{
		{"empty", "", "empty"},
		{"header", "id\text\n", "line 1"},
		{"order", "dense_id\texternal_id\n1\ta\n", "line 2"},
		{"no tab", "dense_id\texternal_id\n0\ta\n1 b\n", "line 3"},
		{"empty id", "dense_id\texternal_id\n0\t\n", "line 2"},
	} {
		if _, err := ReadIDMap(strings.NewReader(tc.text)); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.msg)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	run := t.TempDir()
	e := &Embeddings{
		Dim:     2,
		Users:   []float32{1, 2, 3, 4, 5, 6},
		Items:   []float32{7, 8, 9, 10},
		UserIDs: []string{"a", "b", "c"},
		ItemIDs: []string{"x", "y"},
	}
	if err := Save(run, e); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{UsersNPY, ItemsNPY, UsersTSV, ItemsTSV} {
		if _, err := os.Stat(filepath.Join(run, "embeddings", f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// No temp files left behind.
	if ents, _ := os.ReadDir(Dir(run)); len(ents) != 4 {
		t.Errorf("embeddings dir holds %d entries, want 4", len(ents))
	}
	got, err := Load(run)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dim != 2 || got.NumUsers() != 3 || got.NumItems() != 2 || !slices.Equal(got.Users, e.Users) ||
		!slices.Equal(got.Items, e.Items) || !slices.Equal(got.UserIDs, e.UserIDs) || !slices.Equal(got.ItemIDs, e.ItemIDs) {
		t.Fatalf("loaded %+v, want %+v", got, e)
	}
	// Without id maps: Load leaves them nil.
	run2 := t.TempDir()
	e2 := &Embeddings{Dim: 2, Users: e.Users, Items: e.Items}
	if err := Save(run2, e2); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(run2); err != nil || got.UserIDs != nil || got.ItemIDs != nil {
		t.Fatalf("load without maps: %+v %v", got, err)
	}
	// Mismatched id map length is an error.
	bad := filepath.Join(Dir(run2), UsersTSV)
	if err := os.WriteFile(bad, []byte(TSVHeader+"\n0\ta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(run2); err == nil || !strings.Contains(err.Error(), "users.tsv") {
		t.Fatalf("short users.tsv: err = %v", err)
	}
	// A corrupt matrix names the file.
	if err := os.WriteFile(filepath.Join(Dir(run2), ItemsNPY), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(run2); !errors.Is(err, ErrNPY) || !strings.Contains(err.Error(), "items.npy") {
		t.Fatalf("corrupt items.npy: err = %v", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty run dir: err = %v, want ErrNotExist", err)
	}
	if err := Save(run, &Embeddings{Dim: 2, Users: []float32{1}}); err == nil {
		t.Fatal("Save of a ragged matrix: no error")
	}
}

func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("file now %q, want old content", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries left, want 1 (temp file not removed)", len(ents))
	}
}

// TestNumPyLoads loads a written file with NumPy when python3 and numpy are
// installed; it skips otherwise.
func TestNumPyLoads(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skip("numpy not installed for python3")
	}
	p := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteFileAtomic(p, func(w io.Writer) error { return WriteNPY(w, []float32{1, 2, 3, 4, 5, 6.5}, 2, 3) }); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], a.tolist())", p).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	if want := "float32 (2, 3) True [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]"; strings.TrimSpace(string(out)) != want {
		t.Fatalf("numpy saw %q, want %q", out, want)
	}
	// And a file NumPy wrote reads back here.
	q := filepath.Join(t.TempDir(), "n.npy")
	if out, err := exec.Command(py, "-c", "import numpy,sys; numpy.save(sys.argv[1], numpy.arange(12, dtype='<f4').reshape(4,3))", q).CombinedOutput(); err != nil {
		t.Fatalf("numpy.save: %v\n%s", err, out)
	}
	f, err := os.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, r, c, err := ReadNPY(f)
	if err != nil || r != 4 || c != 3 || data[11] != 11 {
		t.Fatalf("read numpy file: (%d,%d) %v %v", r, c, data, err)
	}
}

// TestManifest: the store fingerprint round-trips through manifest.json, a
// save without one removes the stale manifest, and a manifest that does not
// describe the matrices beside it is refused naming the file.
func TestManifest(t *testing.T) {
	run := t.TempDir()
	e := &Embeddings{Dim: 2, Users: []float32{1, 2, 3, 4}, Items: []float32{5, 6}, Fingerprint: "fp-a"}
	if err := Save(run, e); err != nil {
		t.Fatal(err)
	}
	got, err := Load(run)
	if err != nil || got.Fingerprint != "fp-a" {
		t.Fatalf("Load = %+v, %v; want fingerprint fp-a", got, err)
	}
	var m Manifest
	if b, err := os.ReadFile(filepath.Join(Dir(run), ManifestJSON)); err != nil || json.Unmarshal(b, &m) != nil ||
		m != (Manifest{Fingerprint: "fp-a", Users: 2, Items: 1, Dim: 2}) {
		t.Fatalf("manifest %+v (%v)", m, err)
	}
	// Saved again without a fingerprint: no manifest claims the old one.
	if err := Save(run, &Embeddings{Dim: 2, Users: e.Users, Items: e.Items}); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(run); err != nil || got.Fingerprint != "" {
		t.Fatalf("after a save without fingerprint: %+v, %v", got, err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"shape", `{"fingerprint":"fp-a","users":3,"items":1,"dim":2}`, "3 users"},
		{"no fingerprint", `{"users":2,"items":1,"dim":2}`, "no fingerprint"},
		{"junk", `{"fingerprint":`, "manifest.json"},
		{"unknown key", `{"fingerprint":"x","users":2,"items":1,"dim":2,"extra":1}`, "extra"},
	} {
		if err := os.WriteFile(filepath.Join(Dir(run), ManifestJSON), []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(run); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ManifestJSON) {
			t.Errorf("%s: err = %v, want one naming %s and %q", tc.name, err, ManifestJSON, tc.want)
		}
	}
}

func TestSaveDirWithProgress(t *testing.T) {
	ids := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = prefix + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		}
		return out
	}
	big := make([]float32, 5000*8) // several 64 KiB chunks
	for i := range big {
		big[i] = float32(i)
	}
	cases := []struct {
		name string
		e    *Embeddings
	}{
		{"ids and fingerprint", &Embeddings{Dim: 8, Users: big, Items: big[:800], UserIDs: ids(5000, "u"), ItemIDs: ids(100, "i"), Fingerprint: "fp"}},
		{"matrices only", &Embeddings{Dim: 2, Users: []float32{1, 2, 3, 4}, Items: []float32{5, 6}}},
		{"fingerprint, no ids", &Embeddings{Dim: 1, Users: []float32{1}, Items: []float32{2}, Fingerprint: "abc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plainDir, progDir := t.TempDir(), t.TempDir()
			if err := SaveDir(plainDir, c.e); err != nil {
				t.Fatal(err)
			}
			var calls int
			var sum, total int64
			err := SaveDirWith(progDir, c.e, SaveOptions{Progress: func(n, all int64) {
				calls++
				sum += n
				if total != 0 && all != total {
					t.Errorf("total changed from %d to %d", total, all)
				}
				total = all
			}})
			if err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(plainDir)
			if err != nil {
				t.Fatal(err)
			}
			var onDisk int64
			for _, ent := range ents {
				a, _ := os.ReadFile(filepath.Join(plainDir, ent.Name()))
				b, err := os.ReadFile(filepath.Join(progDir, ent.Name()))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs with a progress callback (err %v)", ent.Name(), err)
				}
				onDisk += int64(len(a))
			}
			if calls == 0 || sum != onDisk || total != onDisk {
				t.Errorf("%d progress calls adding to %d of total %d; files hold %d bytes", calls, sum, total, onDisk)
			}
		})
	}
}
