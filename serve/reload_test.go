package serve

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// grownModel is testModel with a new user "carol" (0, 1) and a new item
// "f" (0, 5), as after ingest --append and infer.
func grownModel(t testing.TB) Model {
	m := testModel(t)
	train, err := graph.Build(3, 6, []graph.Edge{{User: 0, Item: 0}, {User: 2, Item: 3}})
	if err != nil {
		t.Fatal(err)
	}
	m.Users = append(m.Users, 0, 1)
	m.Items = append(m.Items, 0, 5)
	m.UserIDs = append(m.UserIDs, "carol")
	m.ItemIDs = append(m.ItemIDs, "f")
	m.Train = train
	return m
}

func post(h http.Handler, url string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, url, nil))
	return rec.Code, rec.Body.String()
}

func TestReloader(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	load := func(context.Context) (Model, error) {
		if fail.Load() {
			return Model{}, errors.New("store changed under the embeddings")
		}
		if calls.Add(1) == 1 {
			return testModel(t), nil
		}
		return grownModel(t), nil
	}
	r, err := NewReloader(context.Background(), load, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, r, "/recommend?user=carol&k=1"); code != http.StatusBadRequest || !strings.Contains(body, `unknown user`) {
		t.Fatalf("before reload: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, method, url string
		code              int
		body              string
	}{
		{"get is refused", http.MethodGet, "/reload", http.StatusMethodNotAllowed, "use POST"},
		{"unknown parameter", http.MethodPost, "/reload?x=1", http.StatusBadRequest, `"param":"x"`},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.url, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
	if r.Generation() != 1 {
		t.Fatalf("generation %d after refused reloads, want 1", r.Generation())
	}
	code, body := post(r, "/reload")
	if code != http.StatusOK || !strings.Contains(body, `"generation":2`) || !strings.Contains(body, `"users":3`) || !strings.Contains(body, `"items":6`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	// The new user gets the new item (score 5) first; its train item d is excluded.
	if code, body := get(t, r, "/recommend?user=carol&k=2"); code != http.StatusOK || !strings.Contains(body, `"items":[{"item":"f","score":5},{"item":"e","score":2}]`) {
		t.Errorf("new user after reload: %d %s", code, body)
	}
	fail.Store(true)
	if code, body := post(r, "/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "store changed") {
		t.Errorf("failing reload: %d %s", code, body)
	}
	if code, _ := get(t, r, "/recommend?user=carol&k=1"); code != http.StatusOK || r.Generation() != 2 {
		t.Errorf("a failed reload dropped the model: %d, generation %d", code, r.Generation())
	}
	if _, err := NewReloader(context.Background(), load, Options{}); err == nil {
		t.Error("NewReloader with a failing first load succeeded")
	}
}

// TestReloaderConcurrent: requests racing reloads always see a whole
// model (run with -race).
func TestReloaderConcurrent(t *testing.T) {
	var n atomic.Int64
	r, err := NewReloader(context.Background(), func(context.Context) (Model, error) {
		if n.Add(1)%2 == 1 {
			return testModel(t), nil
		}
		return grownModel(t), nil
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/recommend?user=alice&k=3", nil))
				if rec.Code != http.StatusOK {
					t.Errorf("request during reloads: %d %s", rec.Code, rec.Body.String())
					return
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		if code, body := post(r, "/reload"); code != http.StatusOK {
			t.Errorf("reload %d: %d %s", i, code, body)
		}
	}
	wg.Wait()
	if r.Generation() != 11 {
		t.Errorf("generation %d, want 11", r.Generation())
	}
}
