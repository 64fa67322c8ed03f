package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// Client talks to a running daemon's API with its bearer token: what `status
// --server` and `sync` use, so that they need no access to the daemon's files.
type Client struct {
	server, token string
	http          *http.Client
}

// NewClient is a client of the daemon at server (e.g. http://127.0.0.1:8080; a
// trailing slash is dropped, and an address without a scheme, 127.0.0.1:8080, is
// taken as http://) sending token.
func NewClient(server, token string) *Client {
	server = strings.TrimRight(server, "/")
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	return &Client{server: server, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// Server is the daemon's address as the client uses it, for messages.
func (c *Client) Server() string { return c.server }

// Do sends METHOD PATH and decodes the JSON answer into out (unless nil). An answer
// of 300 or more is an error quoting the start of its body, which says why.
func (c *Client) Do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, nil)
	if err != nil {
		return err // names the bad URL already
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the daemon at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("daemon at %s: 401: the API token was refused (check --api-token-file, or $RASA_GITOPS_API_TOKEN)", c.server)
	}
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon at %s answered %s: %s", c.server, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// StatusResponse is the answer of GET /api/status: whether the daemon is ready (and
// why not), and every environment's status.
type StatusResponse struct {
	Ready        bool              `json:"ready"`
	Reason       string            `json:"reason"`
	Environments []state.EnvStatus `json:"environments"`
}

// Status asks the daemon for every environment's status.
func (c *Client) Status(ctx context.Context) (StatusResponse, error) {
	var resp StatusResponse
	err := c.Do(ctx, http.MethodGet, "/api/status", &resp)
	return resp, err
}

// Sync asks the daemon to fetch and reconcile now; forceWindow applies changes held
// by change windows (the daemon audits it).
func (c *Client) Sync(ctx context.Context, forceWindow bool) error {
	path := "/api/sync"
	if forceWindow {
		path += "?forceWindow=true"
	}
	return c.Do(ctx, http.MethodPost, path, nil)
}
