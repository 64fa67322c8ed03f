package forge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "forge-token-s3cret"

// request is what the fake forge received.
type request struct {
	Method, Path string
	Header       http.Header
	Body         map[string]string
}

// fakeForge records each request and answers code.
func fakeForge(t *testing.T, code int) (*httptest.Server, *[]request) {
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header}
		if err := json.Unmarshal(data, &req.Body); err != nil {
			t.Errorf("body is not a JSON object: %s", data)
		}
		got = append(got, req)
		w.WriteHeader(code)
		io.WriteString(w, `{"message":"echo `+r.Header.Get("Authorization")+r.Header.Get("PRIVATE-TOKEN")+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func tokenFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var status = Status{Commit: "0123456789abcdef0123456789abcdef01234567", Context: "rasa-gitops/production", State: Failure,
	Description: "refused: not signed by a production signer", TargetURL: "https://rasa.example/api/status"}

// TestRequests: each forge gets the method, path, headers and JSON body its public
// API documents (GitHub: REST statuses; GitLab: commit status API v4; Gitea: API v1).
func TestRequests(t *testing.T) {
	for _, tc := range []struct {
		provider, repo, path string
		header               map[string]string
		body                 map[string]string
	}{
		{GitHub, "acme/deploy", "/repos/acme/deploy/statuses/" + status.Commit,
			map[string]string{"Authorization": "Bearer " + secret, "Accept": "application/vnd.github+json", "X-Github-Api-Version": "2022-11-28", "Content-Type": "application/json"},
			map[string]string{"state": "failure", "context": status.Context, "description": status.Description, "target_url": status.TargetURL}},
		{GitLab, "acme/bots/deploy", "/projects/acme%2Fbots%2Fdeploy/statuses/" + status.Commit,
			map[string]string{"Private-Token": secret, "Content-Type": "application/json"},
			map[string]string{"state": "failed", "name": status.Context, "description": status.Description, "target_url": status.TargetURL}},
		{Gitea, "acme/deploy", "/repos/acme/deploy/statuses/" + status.Commit,
			map[string]string{"Authorization": "token " + secret, "Content-Type": "application/json"},
			map[string]string{"state": "failure", "context": status.Context, "description": status.Description, "target_url": status.TargetURL}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			srv, got := fakeForge(t, http.StatusCreated)
			c, err := New(Config{Provider: tc.provider, APIURL: srv.URL + "/", Repo: tc.repo, TokenFile: tokenFile(t)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetStatus(context.Background(), status); err != nil {
				t.Fatal(err)
			}
			if len(*got) != 1 {
				t.Fatalf("%d requests", len(*got))
			}
			r := (*got)[0]
			if r.Method != http.MethodPost || r.Path != tc.path {
				t.Errorf("%s %s, want POST %s", r.Method, r.Path, tc.path)
			}
			for k, v := range tc.header {
				if r.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, r.Header.Get(k), v)
				}
			}
			if len(r.Body) != len(tc.body) {
				t.Errorf("body %v, want %v", r.Body, tc.body)
			}
			for k, v := range tc.body {
				if r.Body[k] != v {
					t.Errorf("body %s = %q, want %q", k, r.Body[k], v)
				}
			}
		})
	}
}

// TestErrorsNeverCarryTheToken: a forge that echoes the token in its error answer
// has it masked, and a 500 is retryable while a 404 is not.
func TestErrorsNeverCarryTheToken(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		srv, _ := fakeForge(t, code)
		c, err := New(Config{Provider: GitHub, APIURL: srv.URL, Repo: "acme/deploy", TokenFile: tokenFile(t)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.SetStatus(context.Background(), status)
		var he *HTTPError
		if !errors.As(err, &he) || he.Code != code || he.Retryable() != (code == 500) {
			t.Errorf("%d: %v", code, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error carries the token: %v", err)
		}
	}
}

// TestConfigMistakes are found at start, not at the first post.
func TestConfigMistakes(t *testing.T) {
	tok := tokenFile(t)
	for _, cfg := range []Config{
		{Provider: "bitbucket", Repo: "a/b", TokenFile: tok},
		{Provider: GitHub, Repo: "nameonly", TokenFile: tok},
		{Provider: Gitea, Repo: "a/b", TokenFile: tok},
		{Provider: GitHub, Repo: "a/b"},
		{Provider: GitHub, Repo: "a/b", TokenFile: filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestLongDescriptionsAreCut to GitHub's 140 characters.
func TestLongDescriptionsAreCut(t *testing.T) {
	srv, got := fakeForge(t, http.StatusCreated)
	c, _ := New(Config{Provider: GitHub, APIURL: srv.URL, Repo: "acme/deploy", TokenFile: tokenFile(t)})
	s := status
	s.Description = strings.Repeat("é", 300)
	if err := c.SetStatus(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune((*got)[0].Body["description"])); n != 140 {
		t.Errorf("description of %d characters", n)
	}
}

// TestRedirectsAreNotFollowed: an API URL that redirects to another host gets no
// token there (Go keeps GitLab's PRIVATE-TOKEN header on a cross-host redirect) and
// the post fails with the redirect's status.
func TestRedirectsAreNotFollowed(t *testing.T) {
	other, otherReqs := fakeForge(t, http.StatusCreated)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	for _, provider := range []string{GitHub, GitLab, Gitea} {
		c, err := New(Config{Provider: provider, APIURL: redirect.URL, Repo: "acme/deploy", TokenFile: tokenFile(t)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.SetStatus(context.Background(), status)
		var he *HTTPError
		if !errors.As(err, &he) || he.Code != http.StatusTemporaryRedirect {
			t.Errorf("%s: %v, want the 307 as an error", provider, err)
		}
	}
	if n := len(*otherReqs); n != 0 {
		t.Errorf("the redirect's target got %d requests", n)
	}
}
