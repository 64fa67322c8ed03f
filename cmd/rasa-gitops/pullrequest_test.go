package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/api"
	"github.com/rasa-gitops/rasa-gitops/preview"
)

type fixedPreviewer struct{ res preview.Result }

func (p fixedPreviewer) Preview(context.Context, string) (preview.Result, error) { return p.res, nil }

// TestPreviewCommand: the command asks the daemon's API and writes each format; a
// wrong format is a usage error, before any request.
func TestPreviewCommand(t *testing.T) {
	res := preview.Result{Revision: "main@sha1:abc", Valid: true, Project: "demo", Plan: []preview.Action{{Target: "service:rasa-staging", Kind: "create", Reason: "missing"}},
		Environments: []preview.Environment{{Name: "production", Verdict: preview.VerdictRefused, Reason: "not signed by a key allowed for production: the commit is not signed"}}}
	var asked atomic.Int64
	h := api.New(api.Config{Backend: nil, Token: "tok", Preview: fixedPreviewer{res}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1); h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "tok\n", 0o600)
	for format, want := range map[string]string{"text": "refused: not signed by a key allowed for production", "markdown": preview.Marker, "json": `"verdict": "refused"`} {
		var out bytes.Buffer
		code := run(context.Background(), []string{"preview", "--server", srv.URL, "--api-token-file", tokenFile, "--format", format, "refs/pull/1/head"}, &out, &out)
		if code != exitOK || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "service:rasa-staging") {
			t.Errorf("--format %s: exit %d:\n%s", format, code, out.String())
		}
	}
	before := asked.Load()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"preview", "--server", srv.URL, "--api-token-file", tokenFile, "--format", "xml", "refs/pull/1/head"}, &out, &out); code != exitUsage || asked.Load() != before {
		t.Errorf("--format xml: exit %d after %d requests: %s", code, asked.Load()-before, out.String())
	}
}
