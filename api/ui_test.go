package api

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

// TestStatusPageMountedBesideTheAPI: with Config.UI the page answers / and /ui/...,
// while /api/* keeps its bearer token (a page session does not open it, so no page
// can make a browser call POST /api/sync) and /healthz stays open.
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
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"tok"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(jar.Cookies(resp.Request.URL)) != 1 {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, jar.Cookies(resp.Request.URL))
	}
	for _, req := range []struct{ method, path string }{{"GET", "/api/status"}, {"POST", "/api/sync"}} {
		r, err := http.NewRequest(req.method, srv.URL+req.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a page session: %d, want 401", req.method, req.path, resp.StatusCode)
		}
	}
}
