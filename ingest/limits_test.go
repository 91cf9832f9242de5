package ingest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestInputLimits covers the limits on what a parser buffers, stores and
// quotes: long tokens quote at most maxQuote bytes (U1), lines and CSV
// records stop at MaxLineBytes (U2), CSV ids at MaxIDBytes (C4), and CSV
// feature columns of numbers refuse non-finite values instead of turning
// one-hot (W5). want is a regexp over the message, "DIR/" the temp dir; ""
// means the input is valid.
func TestInputLimits(t *testing.T) {
	type files map[string]string
	big := strings.Repeat("x", 10_000_000)
	bigDigits := strings.Repeat("7", 10_000_000)
	long := strings.Repeat("é", 5000) // 10000 bytes, cut between runes
	edges := "user,item\nu1,i1\nu2,i1\nu3,i2\n"
	feats := func(col string, vals ...string) string {
		s := "user," + col + "\n"
		for i, v := range vals {
			s += "u" + string(rune('1'+i)) + "," + v + "\n"
		}
		return s
	}
	uf := CSVOptions{UserCol: "user", ItemCol: "item", UserFeatures: "uf.csv"}
	cases := []struct {
		name   string
		format string
		files  files
		csv    CSVOptions
		want   string
	}{
		// U1: a 10 MB token gives a short message.
		{"10 MB lightgcn id", "lightgcn", files{"train.txt": "0 1\n" + big + " 2\n"}, CSVOptions{},
			`^DIR/train.txt:2: user id "x{100}"\.\.\. \(10000000 bytes\) is not a non-negative integer$`},
		{"10 MB lightgcn number", "lightgcn", files{"train.txt": "0 1\n1 " + bigDigits + "\n"}, CSVOptions{},
			`^DIR/train.txt:2: item id "7{100}"\.\.\. \(10000000 bytes\) overflows uint32 \(max 4294967295\)$`},
		{"long header line", "lightgcn", files{"train.txt": "user " + big + "\n0 1\n"}, CSVOptions{},
			`^DIR/train.txt:1: unexpected header line "user x{95}"\.\.\. \(10000005 bytes\): lightgcn files have no header$`},
		{"quote cuts at a rune boundary", "lightgcn", files{"train.txt": "0 a" + long + "\n"}, CSVOptions{},
			`^DIR/train.txt:1: item id "a(é){49}"\.\.\. \(10001 bytes\) is not a non-negative integer$`},
		{"long u.data rating", "movielens", files{"u.data": "1\t10\t" + big + "\t881250949\n"}, CSVOptions{},
			`^DIR/u.data:1: rating "x{100}"\.\.\. \(10000000 bytes\) is not a number in 1\.\.5$`},
		{"long csv feature id", "csv", files{"e.csv": edges, "uf.csv": "user,age\n" + big + ",3\n"}, uf,
			`^DIR/uf.csv:2: feature row for unknown user "x{100}"\.\.\. \(10000000 bytes\) \(not in the edges\)$`},
		{"long csv column name", "csv", files{"e.csv": "user," + big + "\nu1,i1\n"}, CSVOptions{UserCol: "user", ItemCol: "item"},
			`^DIR/e.csv:1: unknown column "item" \(columns: user, x{100}\.\.\. \(10000000 bytes\)\)$`},
		{"leading zeros are a number", "lightgcn", files{"train.txt": strings.Repeat("0", 40) + "7 1\n"}, CSVOptions{}, ""},

		// U2: lines stop at MaxLineBytes, before they are buffered whole.
		{"lightgcn line at the limit", "lightgcn", files{"train.txt": "0 1\n" + strings.Repeat(" ", MaxLineBytes) + "\r\n1 2"}, CSVOptions{}, ""},
		{"lightgcn line over the limit", "lightgcn", files{"train.txt": "0 1\n" + strings.Repeat(" ", MaxLineBytes+1) + "\n1 2\n"}, CSVOptions{},
			`^DIR/train.txt:2: line longer than 16 MiB \(a binary file\?\)$`},
		{"u.data line over the limit", "movielens", files{"u.data": "1\t10\t4\t881250949\n" + big + big}, CSVOptions{},
			`^DIR/u.data:2: line longer than 16 MiB \(a binary file\?\)$`},
		{"csv line at the limit", "csv", files{"e.csv": "user,item\nu1,i1" + strings.Repeat(" ", MaxLineBytes-5) + "\nu2,i2\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, ""},
		{"csv line over the limit", "csv", files{"e.csv": "user,item\nu1,i1\nu2,i2" + strings.Repeat(" ", MaxLineBytes-4) + "\nu3,i3\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:3: line longer than 16 MiB \(a binary file\?\)$`},
		{"csv error before a long line comes first", "csv", files{"e.csv": "user,item\nu1,\n" + strings.Repeat("x", MaxLineBytes+1)},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:2: item id is empty$`},
		{"csv quoted record over the limit", "csv", files{"e.csv": "user,item\nu1,i1\nu2,\"" + strings.Repeat("0123456789\n", MaxLineBytes/10) + "\"\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:\d+: record longer than 16 MiB since line 3 \(an unclosed quote\?\)$`},
		{"csv record after a quoted multi-line record", "csv", files{"e.csv": "user,item\nu1,\"i\n1\"\n\"u\n2\"," + big + big + "\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:5: line longer than 16 MiB`},

		// C4: csv ids are at most MaxIDBytes.
		{"csv id at the limit", "csv", files{"e.csv": "user,item\n" + strings.Repeat("u", MaxIDBytes) + ",i1\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", Split: Split{Kind: SplitRandom, TestRatio: 0.5}}, ""},
		{"csv id over the limit", "csv", files{"e.csv": "user,item\nu1,i1\nu2," + strings.Repeat("i", MaxIDBytes+1) + "\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:3: item id "i{100}"\.\.\. \(1025 bytes\) is longer than 1024 bytes$`},
		{"csv 64 KiB id", "csv", files{"e.csv": "user,item\n" + strings.Repeat("u", 64<<10) + ",i1\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `^DIR/e.csv:2: user id "u{100}"\.\.\. \(65536 bytes\) is longer than 1024 bytes$`},

		// W5: a column of numbers is numeric; non-finite values are errors.
		{"NaN", "csv", files{"e.csv": edges, "uf.csv": feats("price", "1.5", "NaN", "2")}, uf,
			`^DIR/uf.csv:3: column "price": value "NaN" is not a finite number$`},
		{"Inf", "csv", files{"e.csv": edges, "uf.csv": feats("price", "1.5", "2", "-Infinity")}, uf,
			`^DIR/uf.csv:4: column "price": value "-Infinity" is not a finite number$`},
		{"1e400", "csv", files{"e.csv": edges, "uf.csv": feats("price", "1e400", "1", "2")}, uf,
			`^DIR/uf.csv:2: column "price": value "1e400" overflows float32 \(max 3\.4e38\)$`},
		{"beyond float32", "csv", files{"e.csv": edges, "uf.csv": feats("price", "1", "3.5e38", "inf")}, uf,
			`^DIR/uf.csv:3: column "price": value "3\.5e38" overflows float32 \(max 3\.4e38\)$`},
		{"forced numeric NaN", "csv", files{"e.csv": edges, "uf.csv": feats("price", "nan", "", "2")},
			CSVOptions{UserCol: "user", ItemCol: "item", UserFeatures: "uf.csv", NumericCols: []string{"price"}},
			`^DIR/uf.csv:2: column "price": value "nan" is not a finite number$`},
		{"NaN among labels is a label", "csv", files{"e.csv": edges, "uf.csv": feats("colour", "red", "NaN", "blue")}, uf, ""},
		{"tiny values are numbers", "csv", files{"e.csv": edges, "uf.csv": feats("price", "1e-50", "", "-0")}, uf, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.format == "movielens" {
				for name, content := range mlFixture {
					if _, ok := tc.files[name]; !ok {
						writeFile(t, dir, name, content)
					}
				}
			}
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			err := parseFixture(dir, tc.format, tc.csv)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %.300v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			re := regexp.MustCompile(strings.ReplaceAll(tc.want, "DIR/", regexp.QuoteMeta(dir+string(filepath.Separator))))
			if !re.MatchString(err.Error()) {
				t.Errorf("error\n got %.500s\nwant %s", err, tc.want)
			}
			if len(err.Error()) > len(dir)+400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
			if _, ok := AsError(err); !ok {
				t.Errorf("error %T is not an *ingest.Error", err)
			}
		})
	}
}

// TestCSVNumericColumn checks a column of finite numbers stays numeric and
// keeps its values (the W5 fix must not turn valid columns away).
func TestCSVNumericColumn(t *testing.T) {
	dir := t.TempDir()
	ds, err := ParseCSV(context.Background(), CSVOptions{
		Edges:        writeFile(t, dir, "e.csv", "user,item\nu1,i1\nu2,i1\nu3,i2\n"),
		UserFeatures: writeFile(t, dir, "uf.csv", "user,price\nu1,1e-50\nu2,3.4e38\nu3,-2.5\n"),
		UserCol:      "user", ItemCol: "item", Split: DefaultSplit(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := ds.UserFeatures
	if len(f.Schema) != 1 || f.Schema[0].Derivation != DerivNumeric {
		t.Fatalf("schema %+v, want one numeric column", f.Schema)
	}
	if want := []float32{0, 3.4e38, -2.5}; f.Data[0] != want[0] || f.Data[1] != want[1] || f.Data[2] != want[2] {
		t.Errorf("values %v, want %v", f.Data, want)
	}
}

// TestEndlessInput: a device is refused before reading, a sparse file's
// size sizes no allocation, and an endless pipe stops at MaxLineBytes
// instead of buffering without bound (U2: --train /dev/zero reached 2.1 GB
// RSS).
func TestEndlessInput(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := ParseLightGCN(context.Background(), LightGCNOptions{Train: "/dev/zero", Split: DefaultSplit()})
	if err == nil || err.Error() != "/dev/zero: is a device, want a regular file or a pipe" {
		t.Errorf("/dev/zero: %v", err)
	}
	t.Run("sparse file", func(t *testing.T) {
		// A 100 GB hole: the size is no promise of data, so it must not
		// size an allocation (it was an out-of-memory crash).
		p := filepath.Join(t.TempDir(), "sparse.txt")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 100<<30); err != nil {
			t.Skipf("no sparse files here: %v", err)
		}
		_, err := ParseLightGCN(context.Background(), LightGCNOptions{Train: p, Split: DefaultSplit()})
		if err == nil || err.Error() != p+":1: line longer than 16 MiB (a binary file?)" {
			t.Errorf("error %v", err)
		}
	})
	for _, format := range []string{"lightgcn", "csv"} {
		t.Run(format, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			written := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(pw, zeros{})
				pw.Close()
				written <- n
			}()
			path := "/dev/fd/" + strconv.Itoa(int(pr.Fd()))
			if _, err := os.Stat(path); err != nil {
				pr.Close()
				<-written
				t.Skipf("no %s: %v", path, err)
			}
			start := time.Now()
			switch format {
			case "lightgcn":
				_, err = ParseLightGCN(context.Background(), LightGCNOptions{Train: path, Split: DefaultSplit()})
			case "csv":
				_, err = ParseCSV(context.Background(), CSVOptions{Edges: path, UserCol: "0", ItemCol: "1", NoHeader: true})
			}
			pr.Close()
			n := <-written
			if err == nil || !strings.HasPrefix(err.Error(), path+":1: line longer than 16 MiB") {
				t.Errorf("error %v, want line 1 longer than 16 MiB", err)
			}
			// The parser stopped reading near the limit: what the writer got
			// through is the limit plus the read buffers and the pipe's.
			if n > MaxLineBytes+8<<20 {
				t.Errorf("parser read %d bytes of an endless line before failing", n)
			}
			t.Logf("%s: failed after %d bytes in %v", format, n, time.Since(start))
		})
	}
}

// zeros is an endless reader of NUL bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
