package ingest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// mlFixture is a valid two-user, three-item MovieLens directory; cases
// override single files.
var mlFixture = map[string]string{
	"u.data":       "1\t10\t4\t881250949\n1\t11\t3\t881250950\n2\t10\t5\t881250951\n2\t12\t1\t881250952\n",
	"u.item":       "10|A (1995)|01-Jan-1995||http://x|0|1\n11|B|||http://x|1|1\n12|C (1971)|4-Feb-1971||http://x|0|0\n",
	"u.user":       "1|24|M|technician|85711\n2|53|F|other|94043\n",
	"u.genre":      "unknown|0\nAction|1\n\n",
	"u.occupation": "technician\nother\n",
}

func TestParseErrors(t *testing.T) {
	type files map[string]string
	cases := []struct {
		name   string
		format string // lightgcn, movielens, csv
		files  files
		csv    CSVOptions // Edges etc. are file names, joined with the temp dir
		want   string     // exact message, "DIR/" stands for the temp dir
	}{
		{"malformed item", "lightgcn", files{"train.txt": "0 1 2\n1 3\n2 x 4\n"},
			CSVOptions{}, `DIR/train.txt:3: item id "x" is not a non-negative integer`},
		{"negative id", "lightgcn", files{"train.txt": "0 1\n-1 2\n"},
			CSVOptions{}, `DIR/train.txt:2: user id "-1" is not a non-negative integer`},
		{"uint32 overflow", "lightgcn", files{"train.txt": "0 1\n1 4294967296\n"},
			CSVOptions{}, `DIR/train.txt:2: item id "4294967296" overflows uint32 (max 4294967295)`},
		{"header in lightgcn", "lightgcn", files{"train.txt": "user items\n0 1\n"},
			CSVOptions{}, `DIR/train.txt:1: unexpected header line "user items": lightgcn files have no header`},
		{"empty file", "lightgcn", files{"train.txt": ""},
			CSVOptions{}, `DIR/train.txt:1: file is empty`},
		{"blank lines only", "lightgcn", files{"train.txt": "\n\r\n  \n"},
			CSVOptions{}, `DIR/train.txt:3: no user lines (only blank lines)`},
		{"NUL byte", "lightgcn", files{"train.txt": "0 1\n1 2\x003\n"},
			CSVOptions{}, `DIR/train.txt:2: item id: binary data (NUL byte)`},
		{"invalid UTF-8", "lightgcn", files{"train.txt": "0 1\n\xff\xfe 2\n"},
			CSVOptions{}, `DIR/train.txt:2: user id: binary data (invalid UTF-8)`},
		{"missing test file", "lightgcn", files{"train.txt": "0 1\n"},
			CSVOptions{Test: "nope.txt"}, `DIR/nope.txt: cannot open: no such file or directory`},
		{"u.data field count", "movielens", files{"u.data": "1\t10\t4\t881250949\n1\t11\t3\n"},
			CSVOptions{}, `DIR/u.data:2: want 4 tab-separated fields (user, item, rating, time), got 3`},
		{"bad rating", "movielens", files{"u.data": "1\t10\t4\t881250949\n1\t11\t7\t881250950\n"},
			CSVOptions{}, `DIR/u.data:2: rating "7" is not a number in 1..5`},
		{"bad timestamp", "movielens", files{"u.data": "1\t10\t4\tyesterday\n"},
			CSVOptions{}, `DIR/u.data:1: timestamp "yesterday" is not an integer Unix time`},
		{"timestamp overflows int64", "movielens", files{"u.data": "1\t10\t4\t9223372036854775808\n"},
			CSVOptions{}, `DIR/u.data:1: timestamp "9223372036854775808" overflows int64`},
		{"non-numeric age", "movielens", files{"u.user": "1|24|M|technician|85711\n2|old|F|other|94043\n"},
			CSVOptions{}, `DIR/u.user:2: age "old" is not a non-negative integer up to 200`},
		{"unknown occupation", "movielens", files{"u.user": "1|24|M|astronaut|85711\n2|53|F|other|94043\n"},
			CSVOptions{}, `DIR/u.user:1: occupation "astronaut" is not listed in u.occupation`},
		{"duplicate user row", "movielens", files{"u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n1|25|M|other|1\n"},
			CSVOptions{}, `DIR/u.user:3: duplicate row for user 1 (first at line 1)`},
		{"user row without ratings", "movielens", files{"u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n7|5|F|other|1\n"},
			CSVOptions{}, `DIR/u.user:3: row for user 7, which has no ratings in u.data`},
		{"rated user without row", "movielens", files{"u.user": "1|24|M|technician|85711\n"},
			CSVOptions{}, `DIR/u.user: no row for user 2, which has ratings in u.data`},
		{"bad genre flag", "movielens", files{"u.item": "10|A|01-Jan-1995||u|0|2\n11|B|||u|1|1\n12|C|||u|0|0\n"},
			CSVOptions{}, `DIR/u.item:1: genre flag "2" (Action) is not 0 or 1`},
		{"missing u.genre", "movielens", files{"u.genre": "<absent>"},
			CSVOptions{}, `DIR/u.genre: cannot open: no such file or directory`},
		{"unknown column", "csv", files{"e.csv": "user,item,rating\nu1,i1,5\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", WeightCol: "stars"}, `DIR/e.csv:1: unknown column "stars" (columns: user, item, rating)`},
		{"csv header where none belongs", "csv", files{"e.csv": "user,item,rating\nu1,i1,5\n"},
			CSVOptions{UserCol: "0", ItemCol: "1", WeightCol: "2", NoHeader: true}, `DIR/e.csv:1: weight "rating" is not a finite number (a header line? use --header)`},
		{"csv wrong field count", "csv", files{"e.csv": "user,item\nu1,i1\nu2\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `DIR/e.csv:3: want 2 fields, got 1`},
		{"csv bad time", "csv", files{"e.csv": "user,item,ts\nu1,i1,5\nu2,i1,noon\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", TimeCol: "ts"}, `DIR/e.csv:3: time "noon" is not a Unix time or an RFC 3339 date`},
		{"csv empty", "csv", files{"e.csv": ""},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `DIR/e.csv:1: file is empty`},
		{"feature row for unknown id", "csv", files{"e.csv": "user,item\nu1,i1\n", "if.csv": "item,genre\ni1,a\ni9,b\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", ItemFeatures: "if.csv"}, `DIR/if.csv:3: feature row for unknown item "i9" (not in the edges)`},
		{"duplicate feature row", "csv", files{"e.csv": "user,item\nu1,i1\n", "uf.csv": "user,age\nu1,3\nu1,4\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", UserFeatures: "uf.csv"}, `DIR/uf.csv:3: duplicate feature row for user "u1" (first at line 2)`},
		{"non-numeric in numeric column", "csv", files{"e.csv": "user,item\nu1,i1\nu2,i1\n", "uf.csv": "user,age\nu1,3\nu2,old\n"},
			CSVOptions{UserCol: "user", ItemCol: "item", UserFeatures: "uf.csv", NumericCols: []string{"age"}}, `DIR/uf.csv:3: column "age": value "old" is not a number`},
		{"csv binary", "csv", files{"e.csv": "user,item\nu1,i\x001\n"},
			CSVOptions{UserCol: "user", ItemCol: "item"}, `DIR/e.csv:2: binary data (NUL byte)`},
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
				if content != "<absent>" {
					writeFile(t, dir, name, content)
				}
			}
			err := parseFixture(dir, tc.format, tc.csv)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			want := strings.ReplaceAll(tc.want, "DIR/", dir+string(filepath.Separator))
			if err.Error() != want {
				t.Errorf("error\n got %s\nwant %s", err, want)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Errorf("error %T is not an *ingest.Error", err)
			}
		})
	}
}

// parseFixture parses the files in dir as format: lightgcn reads
// train.txt (and csv.Test as its test file), movielens the directory, csv
// e.csv with the options in csv (file names joined with dir).
func parseFixture(dir, format string, csv CSVOptions) error {
	ctx := context.Background()
	var err error
	switch format {
	case "lightgcn":
		opts := LightGCNOptions{Train: filepath.Join(dir, "train.txt"), Split: DefaultSplit()}
		if csv.Test != "" {
			opts.Test = filepath.Join(dir, csv.Test)
		}
		_, err = ParseLightGCN(ctx, opts)
	case "movielens":
		_, err = ParseMovieLens(ctx, MovieLensOptions{Dir: dir, Logger: quietLogger()})
	case "csv":
		o := csv
		o.Edges = filepath.Join(dir, "e.csv")
		for _, p := range []*string{&o.ItemFeatures, &o.UserFeatures} {
			if *p != "" {
				*p = filepath.Join(dir, *p)
			}
		}
		_, err = ParseCSV(ctx, o)
	default:
		panic("unknown format " + format)
	}
	return err
}

// TestMovieLensFixture checks the fixture parses, so the error cases above
// fail for the reason they name.
func TestMovieLensFixture(t *testing.T) {
	dir := t.TempDir()
	for name, content := range mlFixture {
		writeFile(t, dir, name, content)
	}
	writeFile(t, dir, "u.user", "0|0|D|default_user|0000\n"+mlFixture["u.user"])
	ml, err := ParseMovieLens(context.Background(), MovieLensOptions{Dir: dir, Logger: quietLogger(), Split: Split{Kind: SplitLast, LastN: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if ml.NumUsers() != 2 || ml.NumItems() != 3 || len(ml.Train) != 2 || len(ml.Test) != 2 {
		t.Fatalf("got %d users %d items %d/%d edges", ml.NumUsers(), ml.NumItems(), len(ml.Train), len(ml.Test))
	}
	// last-1 per user: the later rating of each user is in test.
	for _, e := range ml.Test {
		if e.Time != 881250950 && e.Time != 881250952 {
			t.Errorf("test edge %+v is not its user's latest", e)
		}
	}
	// Item 11 has no date: year missing.
	_, miss := col(t, ml.ItemFeatures, 1, "release_year_missing")
	if miss[0] != 1 {
		t.Errorf("item 11 missing flag %v", miss)
	}
	c, g := col(t, ml.ItemFeatures, 1, "genre")
	if got := hot(c, g); len(got) != 2 {
		t.Errorf("item 11 genres %v", got)
	}
	if err := ml.Validate(); err != nil {
		t.Error(err)
	}
}
