package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

// TestStatusPageMountedBesideTheAPI: with Config.UI the page answers / and /ui/...,
// while /api/* keeps its bearer token and /healthz stays open.
func TestStatusPageMountedBesideTheAPI(t *testing.T) {
	st, err := state.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	page := ui.New(ui.Config{State: st, Token: "tok"})
	srv := httptest.NewServer(New(Config{Backend: &backend{ready: true}, Token: "tok", UI: page}))
	t.Cleanup(srv.Close)
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/":                  {http.StatusUnauthorized, `action="/ui/login"`},
		"/ui/static/ui.css":  {http.StatusOK, "status is"},
		"/api/status":        {http.StatusUnauthorized, "Bearer"},
		"/healthz":           {http.StatusOK, "ok"},
		"/not-a-page-or-api": {http.StatusNotFound, ""},
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.code || !strings.Contains(string(body), want.body) {
			t.Errorf("%s: %d %q, want %d with %q", path, resp.StatusCode, body, want.code, want.body)
		}
	}
}
