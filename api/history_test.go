package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// storeBackend answers History from a real state store.
type storeBackend struct {
	backend
	st *state.Store
}

func (b *storeBackend) History(ctx context.Context, f state.Filter) ([]state.Row, error) {
	return b.st.History(ctx, f)
}

// TestHistoryPagesByCursor: on a real SQLite audit log of 2,500 rows, a page holds at
// most 1,000 rows, limit=0 (which used to return everything) is refused, and
// following the Link header's next page visits every row once, newest first.
func TestHistoryPagesByCursor(t *testing.T) {
	st, err := state.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	})
	entries := make([]state.Entry, 2500)
	for i := range entries {
		entries[i] = state.Entry{Time: time.Date(2026, 11, 1, 0, 0, i, 0, time.UTC), Environment: "production", Action: "apply", Outcome: "ok", After: fmt.Sprint(i)}
	}
	if err := st.Record(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
	b := &storeBackend{st: st}
	srv := newServerWith(t, b)
	for _, q := range []string{"limit=0", "limit=1001", "before=0", "before=x"} {
		if code, _, _ := get(t, srv+"/api/history?"+q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	next := regexp.MustCompile(`^<(/api/history\?[^>]+)>; rel="next"$`)
	seen := map[int64]bool{}
	last := int64(1 << 62)
	path, pages := "/api/history?limit=1000", 0
	for path != "" {
		code, rows, link := get(t, srv+path)
		if code != 200 || len(rows) > 1000 {
			t.Fatalf("%s: %d, %d rows", path, code, len(rows))
		}
		pages++
		for _, r := range rows {
			if seen[r.ID] || r.ID >= last {
				t.Fatalf("row %d out of order or twice", r.ID)
			}
			seen[r.ID], last = true, r.ID
		}
		path = ""
		if m := next.FindStringSubmatch(link); m != nil {
			path = m[1]
		}
	}
	if len(seen) != 2500 || pages != 3 {
		t.Errorf("visited %d rows in %d pages, want 2500 in 3", len(seen), pages)
	}
}

func newServerWith(t *testing.T, b Backend) string {
	t.Helper()
	srv := httptestServer(t, New(Config{Backend: b, Token: token, Metrics: NewMetrics(func() float64 { return 0 })}))
	return srv
}

func get(t *testing.T, url string) (int, []state.Row, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []state.Row
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, rows, resp.Header.Get("Link")
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
