package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rasa-gitops/rasa-gitops/preview"
)

// Previewer previews a revision of the followed repository against the host
// (preview.Service): the pull-request half of a promotion.
type Previewer interface {
	Preview(ctx context.Context, revision string) (preview.Result, error)
}

// PreviewRequest is the body of POST /api/preview (?revision= works too).
type PreviewRequest struct {
	// Revision is a commit hash, a branch, or a ref such as refs/pull/7/head.
	Revision string `json:"revision"`
}

// preview answers what applying a revision would do, as JSON (default), or as
// Markdown or text with ?format=markdown|text, so curl in a CI job can post it.
func (s *handlers) preview(w http.ResponseWriter, r *http.Request) {
	req := PreviewRequest{Revision: r.URL.Query().Get("revision")}
	if req.Revision == "" {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
			return
		}
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "markdown" && format != "text" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "format is json, markdown or text"})
		return
	}
	res, err := s.c.Preview.Preview(r.Context(), req.Revision)
	switch {
	case errors.Is(err, preview.ErrBadRevision):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, preview.ErrFetch):
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	switch format {
	case "markdown":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		res.Markdown(w)
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		res.Text(w)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// Preview asks the daemon what applying revision would do (POST /api/preview). A
// first preview clones the repository, which may take longer than the client's
// usual 30s: ctx bounds it instead.
func (c *Client) Preview(ctx context.Context, revision string) (preview.Result, error) {
	var res preview.Result
	long := *c
	long.http = &http.Client{Transport: c.http.Transport}
	err := long.Do(ctx, http.MethodPost, "/api/preview?revision="+url.QueryEscape(strings.TrimSpace(revision)), &res)
	return res, err
}
