package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/redact"
)

// Providers.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea"
)

// State is a commit status state, in GitHub's words; each client maps it to its forge.
type State string

// States.
const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

// Status is one commit status: the state of Context (rasa-gitops/production) on
// Commit, with a short description and an optional link.
type Status struct {
	Commit      string
	Context     string
	State       State
	Description string
	TargetURL   string
}

// Client posts commit statuses to one repository of one forge.
type Client interface {
	SetStatus(ctx context.Context, s Status) error
}

// Config names the forge and repository statuses go to.
type Config struct {
	// Provider is github, gitlab or gitea.
	Provider string
	// APIURL is the API's base URL (default https://api.github.com or
	// https://gitlab.com/api/v4; Gitea has no default: https://gitea.example/api/v1).
	APIURL string
	// Repo is owner/name (GitLab: the project's path or numeric ID).
	Repo string
	// TokenFile holds the API token (read once, never logged); Token, when set, is
	// the token itself (the daemon reads the file, to mask the token in its logs).
	TokenFile string
	Token     string
	// HTTP is the client requests go through (default: 15s timeout).
	HTTP *http.Client
}

// New makes the client of cfg's forge, reading its token file.
func New(cfg Config) (Client, error) {
	token := cfg.Token
	if token == "" {
		var err error
		if token, err = readToken(cfg.TokenFile); err != nil {
			return nil, err
		}
	}
	if cfg.Repo == "" || (cfg.Provider != GitLab && strings.Count(cfg.Repo, "/") != 1) {
		return nil, fmt.Errorf("forge: repository %q: give owner/name", cfg.Repo)
	}
	if cfg.HTTP == nil {
		// A redirect is answered as it is, not followed: Go's client keeps custom
		// headers such as GitLab's PRIVATE-TOKEN on a redirect to another host, and
		// turns a POST into a GET on 301 and 302.
		cfg.HTTP = &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	c := poster{http: cfg.HTTP, base: strings.TrimRight(cfg.APIURL, "/"), repo: cfg.Repo, token: token}
	switch cfg.Provider {
	case GitHub:
		c.base = orDefault(c.base, "https://api.github.com")
		return github{c}, nil
	case GitLab:
		c.base = orDefault(c.base, "https://gitlab.com/api/v4")
		return gitlab{c}, nil
	case Gitea:
		if c.base == "" {
			return nil, errors.New("forge: gitea needs its API URL (https://gitea.example/api/v1)")
		}
		return gitea{c}, nil
	}
	return nil, fmt.Errorf("forge: provider %q: github, gitlab or gitea", cfg.Provider)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func readToken(file string) (string, error) {
	if file == "" {
		return "", errors.New("forge: no token file")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("forge: read the token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("forge: the token file %s is empty", file)
	}
	return token, nil
}

// HTTPError is a forge's answer of 300 or more. Retryable says a later try may work
// (5xx, 429); a 4xx will not until someone fixes the configuration.
type HTTPError struct {
	Code int
	Body string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("forge answered %d: %s", e.Code, e.Body) }

// Retryable says whether trying again later may succeed.
func (e *HTTPError) Retryable() bool { return e.Code >= 500 || e.Code == http.StatusTooManyRequests }

// poster sends one JSON request with a forge's authentication header.
type poster struct {
	http       *http.Client
	base, repo string
	token      string
}

func (p poster) post(ctx context.Context, path string, header http.Header, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("forge: %w", err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rasa-gitops")
	resp, err := p.http.Do(req)
	if err != nil {
		// The URL holds no secret (the token is in a header), but may hold user:pass.
		return fmt.Errorf("forge: post %s: %w", redact.URL(p.base+path), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &HTTPError{Code: resp.StatusCode, Body: strings.ReplaceAll(strings.TrimSpace(string(msg)), p.token, "***")}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// truncate keeps a description within a forge's limit (GitHub: 140 characters).
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
