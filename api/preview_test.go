package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/preview"
)

// previewer answers a fixed preview for "good" and a bad revision otherwise.
type previewer struct{ asked []string }

func (p *previewer) Preview(_ context.Context, rev string) (preview.Result, error) {
	p.asked = append(p.asked, rev)
	if rev == "unreachable" {
		return preview.Result{}, fmt.Errorf("preview: %w: connection refused", preview.ErrFetch)
	}
	if rev != "refs/pull/7/head" {
		return preview.Result{}, fmt.Errorf("%w: no such ref", preview.ErrBadRevision)
	}
	return preview.Result{Revision: "main@sha1:abc", Valid: true, Project: "demo",
		Environments: []preview.Environment{{Name: "production", Verdict: preview.VerdictApply, Model: preview.Model{From: "a", To: "b", Changed: true, Size: -1}}}}, nil
}

// TestPreviewEndpoint: the token is needed; the revision comes by query or body; the
// answer is JSON, or Markdown and text on request; a bad revision is the caller's 400.
func TestPreviewEndpoint(t *testing.T) {
	p := &previewer{}
	srv := httptest.NewServer(New(Config{Backend: &backend{}, Token: token, Preview: p}))
	t.Cleanup(srv.Close)
	s := server{url: srv.URL}
	if code, _ := s.do(t, http.MethodPost, "/api/preview?revision=refs/pull/7/head", "", "", nil); code != http.StatusUnauthorized || len(p.asked) != 0 {
		t.Errorf("without the token: %d, asked %v", code, p.asked)
	}
	code, body := s.do(t, http.MethodPost, "/api/preview?format=markdown", token, `{"revision":"refs/pull/7/head"}`, nil)
	if code != http.StatusOK || !strings.HasPrefix(body, preview.Marker) || !strings.Contains(body, "`a` → `b`") {
		t.Errorf("markdown: %d %s", code, body)
	}
	if code, body := s.do(t, http.MethodPost, "/api/preview?format=text&revision=refs/pull/7/head", token, "", nil); code != http.StatusOK || !strings.Contains(body, "production") {
		t.Errorf("text: %d %s", code, body)
	}
	if code, body := s.do(t, http.MethodPost, "/api/preview?revision=unreachable", token, "", nil); code != http.StatusBadGateway || !strings.Contains(body, "retry") {
		t.Errorf("a repository that cannot be fetched: %d %s, want 502 saying retry", code, body)
	}
	if code, body := s.do(t, http.MethodPost, "/api/preview?revision=nope", token, "", nil); code != http.StatusBadRequest || !strings.Contains(body, "no such ref") {
		t.Errorf("bad revision: %d %s", code, body)
	}
	res, err := NewClient(srv.URL, token).Preview(context.Background(), "refs/pull/7/head")
	if err != nil || res.Project != "demo" || res.Environments[0].Model.To != "b" {
		t.Errorf("client: %+v %v", res, err)
	}
	if _, err := NewClient(srv.URL, token).Preview(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("client, bad revision: %v", err)
	}
}
