// Package testfixture holds the helpers that tests across packages share:
// for the real data sets, where the data directory is, skipping a test when
// a data set is absent, and reading LightGCN-format split files; for
// synthetic ones, planted-community graphs and a sampler that makes
// batches the way the producer does. It is imported only by tests.
package testfixture

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// EnvData is the environment variable naming the shared data directory.
const EnvData = "TRAINERD_DATA"

// DataDir is the shared data directory: $TRAINERD_DATA when set, else
// shared/data beside the directory holding go.mod (../shared/data from the
// module root). It does not check that the directory exists; Need does.
func DataDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv(EnvData); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data")
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join(wd, "..", "..", "shared", "data")
		}
	}
}

// Need returns DataDir joined with elem (a data set's directory or file),
// skipping tb with a message naming the path when it is absent.
func Need(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{DataDir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("data %s absent (set %s): %v", p, EnvData, err)
	}
	return p
}

// Split is one LightGCN-format split file: the edges of its "user item
// item ..." lines (0-based dense ids), and one more than the largest user
// and item id seen.
type Split struct {
	Edges        []graph.Edge
	Users, Items int
}

// ReadLightGCN parses a LightGCN-format split file. Blank lines are
// skipped; an id that is not a uint32 is an error naming path:line.
func ReadLightGCN(path string) (*Split, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Split{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		ids := make([]uint32, len(fs))
		for i, tok := range fs {
			v, err := strconv.ParseUint(tok, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: id %q: %w", path, line, tok, err)
			}
			ids[i] = uint32(v)
		}
		s.Users = max(s.Users, int(ids[0])+1)
		for _, it := range ids[1:] {
			s.Items = max(s.Items, int(it)+1)
			s.Edges = append(s.Edges, graph.Edge{User: ids[0], Item: it})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ByUser lists the items of each of users users (local ids), in file
// order; users must be at least s.Users.
func (s *Split) ByUser(users int) [][]uint32 {
	out := make([][]uint32, users)
	for _, e := range s.Edges {
		out[e.User] = append(out[e.User], e.Item)
	}
	return out
}

// LightGCN reads the split file DataDir/elem, skipping tb when it is
// absent and failing it when the file does not parse.
func LightGCN(tb testing.TB, elem ...string) *Split {
	tb.Helper()
	s, err := ReadLightGCN(Need(tb, elem...))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Graph builds the bipartite graph of the split file DataDir/elem (its
// users and items counted from the file), skipping tb when it is absent.
func Graph(tb testing.TB, elem ...string) *graph.Bipartite {
	tb.Helper()
	s := LightGCN(tb, elem...)
	g, err := graph.Build(s.Users, s.Items, s.Edges)
	if err != nil {
		tb.Fatalf("%s: %v", filepath.Join(elem...), err)
	}
	return g
}
