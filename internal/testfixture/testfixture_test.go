package testfixture

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

func TestDataDirEnv(t *testing.T) {
	t.Setenv(EnvData, "/some/where")
	if d := DataDir(t); d != "/some/where" {
		t.Fatalf("DataDir = %s, want $%s", d, EnvData)
	}
	t.Setenv(EnvData, "")
	d := DataDir(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if want := filepath.Join(root, "..", "shared", "data"); d != want {
		t.Fatalf("DataDir = %s, want %s (beside the module root)", d, want)
	}
}

func TestReadLightGCN(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvData, dir)
	for _, tc := range []struct {
		name, text string
		want       *Split
		wantErr    string
	}{
		{"lists", "0 1 2\n\n3 0\n2\n", &Split{Edges: []graph.Edge{{User: 0, Item: 1}, {User: 0, Item: 2}, {User: 3, Item: 0}}, Users: 4, Items: 3}, ""},
		{"bad id", "0 1\n1 x\n", nil, `bad id:2: id "x"`},
		{"negative", "-1 2\n", nil, `negative:1: id "-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadLightGCN(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v (err %v), want %+v", got, err, tc.want)
			}
			if g := Graph(t, tc.name); g.NumUsers != 4 || g.NumEdges() != 3 {
				t.Fatalf("graph %d users %d edges", g.NumUsers, g.NumEdges())
			}
		})
	}
}

// TestNeedSkips: an absent data set skips the test (checked in a subtest,
// which must end skipped, not failed or passed).
func TestNeedSkips(t *testing.T) {
	t.Setenv(EnvData, t.TempDir())
	ran := false
	t.Run("absent", func(t *testing.T) {
		Need(t, "no-such-set")
		ran = true
	})
	if ran {
		t.Fatal("Need did not skip for an absent data set")
	}
}

func TestSplitByUser(t *testing.T) {
	s := &Split{Edges: []graph.Edge{{User: 2, Item: 5}, {User: 0, Item: 1}, {User: 2, Item: 3}}, Users: 3, Items: 6}
	want := [][]uint32{{1}, nil, {5, 3}, nil}
	if got := s.ByUser(4); !reflect.DeepEqual(got, want) {
		t.Fatalf("ByUser = %v, want %v (file order per user)", got, want)
	}
}
