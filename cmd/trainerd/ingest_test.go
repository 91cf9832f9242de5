package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/ingest"
	"github.com/trainerd/trainerd/internal/testfixture"
)

// noBar turns the progress line off whatever the environment says.
const noBar = "off"

// storeState opens the store and returns its stats and fingerprint.
func storeState(t *testing.T, dir string) (featurestore.Stats, string) {
	t.Helper()
	s, err := featurestore.Open(dir, featurestore.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer s.Close()
	return s.Stats(), s.Fingerprint()
}

func TestIngestFailureLeavesStoreUnchanged(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := ingestFlags{store: store, format: "lightgcn", progress: noBar, testRatio: 0.2, seed: 1, lastN: 1,
		train: write("train.txt", "0 1 2 3\n1 2 4\n2 0\n"), test: write("test.txt", "0 4\n1 0\n")}
	var out, errw bytes.Buffer
	if err := runIngest(context.Background(), good, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 users, 5 items, 6 train + 2 test edges") {
		t.Errorf("summary %q", out.String())
	}
	before, fp := storeState(t, store)
	if before.Users != 3 || before.Items != 5 || before.TrainEdges != 6 || before.TestEdges != 2 || fp == "" {
		t.Fatalf("stats after good ingest %+v fp %q", before, fp)
	}

	bad := good
	bad.train = write("bad.txt", "0 1\n1 2\n2 x\n")
	err := runIngest(context.Background(), bad, &out, &errw)
	if err == nil {
		t.Fatal("bad ingest succeeded")
	}
	if want := bad.train + `:3: item id "x" is not a non-negative integer`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// A failure after parsing (in the flags) must not touch the store either.
	bad2 := good
	bad2.format, bad2.edges, bad2.userCol, bad2.itemCol, bad2.test, bad2.header = "csv", write("e.csv", "u,i\na,b\n"), "u", "nope", "", true
	if err := runIngest(context.Background(), bad2, &out, &errw); err == nil || !strings.Contains(err.Error(), `unknown column "nope"`) {
		t.Errorf("csv error %v", err)
	}
	after, fp2 := storeState(t, store)
	if fp2 != fp || after != before {
		t.Errorf("store changed by failed ingests:\n before %+v %s\n after  %+v %s", before, fp, after, fp2)
	}
}

func TestGowallaIngestEndToEnd(t *testing.T) {
	dir := filepath.Dir(testfixture.Need(t, "gowalla", "train.txt"))
	if testing.Short() {
		t.Skip("short mode")
	}
	store := t.TempDir()
	start := time.Now()
	var out bytes.Buffer
	f := ingestFlags{store: store, format: "lightgcn", progress: noBar,
		train: filepath.Join(dir, "train.txt"), test: filepath.Join(dir, "test.txt")}
	if err := runIngest(context.Background(), f, &out, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("gowalla ingest %.2f s: %s", time.Since(start).Seconds(), out.String())
	st, _ := storeState(t, store)
	if st.Users != 29858 || st.Items != 40981 || st.TrainEdges != 810128 || st.TestEdges != 217242 {
		t.Errorf("stats %+v", st)
	}
}

func TestResolveSplit(t *testing.T) {
	cases := []struct {
		name    string
		f       ingestFlags
		want    ingest.SplitKind
		wantErr string
	}{
		{"test file means given", ingestFlags{format: "csv", test: "t"}, ingest.SplitGiven, ""},
		{"csv default random", ingestFlags{format: "csv"}, ingest.SplitRandom, ""},
		{"movielens default random", ingestFlags{format: "movielens"}, ingest.SplitRandom, ""},
		{"lightgcn needs a test", ingestFlags{format: "lightgcn"}, "", "lightgcn needs --test"},
		{"conflict", ingestFlags{format: "csv", test: "t", split: "last"}, "", "conflicts with --test"},
		{"given without test", ingestFlags{format: "csv", split: "given"}, "", "needs --test"},
		{"explicit last", ingestFlags{format: "lightgcn", split: "last"}, ingest.SplitLast, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.f.resolveSplit()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || s.Kind != tc.want {
				t.Fatalf("split %+v err %v, want %s", s, err, tc.want)
			}
		})
	}
}

func TestParseDelimiter(t *testing.T) {
	for in, want := range map[string]rune{",": ',', `\t`: '\t', "tab": '\t', ";": ';', "|": '|'} {
		if got, err := parseDelimiter(in); err != nil || got != want {
			t.Errorf("parseDelimiter(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", ",,", `"`, "\n"} {
		if _, err := parseDelimiter(in); err == nil {
			t.Errorf("parseDelimiter(%q) accepted", in)
		}
	}
}

// TestIDLimitsAgree: every id ingest accepts fits the store.
func TestIDLimitsAgree(t *testing.T) {
	if ingest.MaxIDBytes > featurestore.MaxIDBytes {
		t.Fatalf("ingest accepts ids of %d bytes, the store holds %d", ingest.MaxIDBytes, featurestore.MaxIDBytes)
	}
}

// TestIngestInputLimitsCLI runs bad input of issue 14 through the binary's
// command line in a child process: a 64 KiB CSV id (C4: Badger's
// "Assert failed", exit 1, no FILE:LINE, staging left), a 10 MB lightgcn
// id (U1: a 10 MB error line), /dev/zero (U2: 2.1 GB RSS) and a NaN
// feature (W5: silently one-hot). Each must end with one short error line
// naming FILE:LINE, and leave the store as it was.
func TestIngestInputLimitsCLI(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if code, stderr := runChild(t, "ingest", "--store", store, "--format", "lightgcn", "--log-level", "warn",
		"--train", write("train.txt", "0 1 2 3\n1 2 4\n2 0\n"), "--test", write("test.txt", "0 4\n1 0\n")); code != 0 {
		t.Fatalf("good ingest: %s", stderr)
	}
	before, fp := storeState(t, store)
	csvFlags := []string{"--format", "csv", "--user-col", "user", "--item-col", "item"}
	cases := []struct {
		name string
		args []string
		want string // regexp
	}{
		{"64 KiB csv id", append(csvFlags, "--edges", write("long.csv", "user,item\n"+strings.Repeat("u", 64<<10)+",i1\nu2,i2\n")),
			`^trainerd: \S+/long.csv:2: user id "u{100}"\.\.\. \(65536 bytes\) is longer than 1024 bytes\n$`},
		{"10 MB lightgcn id", []string{"--format", "lightgcn", "--split", "random", "--train", write("big.txt", "0 1\n1 "+strings.Repeat("9", 10_000_000)+"\n")},
			`^trainerd: \S+/big.txt:2: item id "9{100}"\.\.\. \(10000000 bytes\) overflows uint32 \(max 4294967295\)\n$`},
		{"/dev/zero", []string{"--format", "lightgcn", "--split", "random", "--train", "/dev/zero"},
			`^trainerd: /dev/zero: is a device, want a regular file or a pipe\n$`},
		{"NaN feature", append(csvFlags, "--edges", write("e.csv", "user,item\nu1,i1\nu2,i2\n"), "--user-features", write("uf.csv", "user,price\nu1,2\nu2,NaN\n")),
			`^trainerd: \S+/uf.csv:3: column "price": value "NaN" is not a finite number\n$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stderr := runChild(t, append([]string{"ingest", "--store", store, "--log-level", "warn"}, tc.args...)...)
			if code == 0 {
				t.Fatal("ingest succeeded")
			}
			if !regexp.MustCompile(tc.want).MatchString(stderr) {
				t.Errorf("stderr %.500q, want %s", stderr, tc.want)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %v", el)
			}
			if left := stagingLeft(t, store); len(left) != 0 {
				t.Errorf("staging left behind: %v", left)
			}
			after, fp2 := storeState(t, store)
			if fp2 != fp || after != before {
				t.Errorf("store changed:\n before %+v %s\n after  %+v %s", before, fp, after, fp2)
			}
		})
	}
}

// TestIngestAppend: --append grows a csv store by new users and items with
// features, keeping old ids; the new version names the old as its parent;
// a feature schema that differs is refused and leaves the store as it was.
func TestIngestAppend(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := ingestFlags{store: store, format: "csv", progress: noBar, header: true, delimiter: ",", featureIDCol: "0",
		userCol: "user", itemCol: "item", split: "none",
		edges:        write("e.csv", "user,item\nu1,i1\nu1,i2\nu2,i2\nu3,i3\n"),
		itemFeatures: write("if.csv", "item,price\ni1,1.5\ni2,2\ni3,3\n")}
	var out, errw bytes.Buffer
	if err := runIngest(context.Background(), base, &out, &errw); err != nil {
		t.Fatal(err)
	}
	_, fp0 := storeState(t, store)

	add := base
	add.appendTo, add.split = true, ""
	add.edges = write("e2.csv", "user,item\nu4,i1\nu4,i9\nu1,i9\n")
	add.itemFeatures = write("if2.csv", "item,price\ni1,1.5\ni9,7\n")
	out.Reset()
	if err := runIngest(context.Background(), add, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "appended") || !strings.Contains(out.String(), "4 users, 4 items, 7 train + 0 test edges") {
		t.Errorf("summary %q", out.String())
	}
	s, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t    dataset.NodeType
		ext  string
		want uint32
	}{{dataset.User, "u1", 0}, {dataset.User, "u3", 2}, {dataset.User, "u4", 3}, {dataset.Item, "i3", 2}, {dataset.Item, "i9", 3}} {
		if got, err := s.DenseID(c.t, c.ext); err != nil || got != c.want {
			t.Errorf("%s %s: dense %d (%v), want %d", c.t, c.ext, got, err, c.want)
		}
	}
	row := make([]float32, 1)
	if err := s.FetchFeatures(dataset.Item, []uint32{3}, row); err != nil || row[0] != 7 {
		t.Errorf("i9's price %v (%v), want 7", row, err)
	}
	if a, ok := s.DescendsFrom(fp0); !ok || a.Users != 3 || a.Items != 3 {
		t.Errorf("DescendsFrom(old) = %+v %v", a, ok)
	}
	s.Close()
	before, fp1 := storeState(t, store)

	bad := add
	bad.itemFeatures = write("if3.csv", "item,colour\ni10,red\n")
	bad.edges = write("e3.csv", "user,item\nu5,i10\n")
	if err := runIngest(context.Background(), bad, &out, &errw); err == nil || !strings.Contains(err.Error(), "item features") {
		t.Fatalf("append with another schema: %v", err)
	}
	if after, fp2 := storeState(t, store); fp2 != fp1 || after != before {
		t.Error("a refused append changed the store")
	}
}
