package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/ingest"
)

var noBar = func() *bool { b := false; return &b }()

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
	data := os.Getenv("TRAINERD_DATA")
	if data == "" {
		data = filepath.Join("..", "..", "..", "shared", "data")
	}
	dir := filepath.Join(data, "gowalla")
	if _, err := os.Stat(filepath.Join(dir, "train.txt")); err != nil {
		t.Skipf("gowalla data %s absent (set TRAINERD_DATA): %v", dir, err)
	}
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

func TestProgressLine(t *testing.T) {
	got := progressLine(50, 100, 2_000_000, 2*time.Second)
	for _, want := range []string{" 50.0%", "2.0M rows", "1.0M rows/s", "ETA 2s", "[===============>"} {
		if !strings.Contains(got, want) {
			t.Errorf("progressLine = %q, missing %q", got, want)
		}
	}
}
