package gitsource

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

func TestFollowBranchOverGitDaemonAndHTTP(t *testing.T) {
	for _, transport := range []string{"git-daemon", "http-backend"} {
		t.Run(transport, func(t *testing.T) {
			remote := testgit.New(t)
			first := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\n", "README.md": "hi\n"}, testgit.CommitOptions{Message: "first"})
			var url string
			opts := Options{Branch: "main", Path: "deploy", StateDir: t.TempDir()}
			if transport == "git-daemon" {
				url = remote.ServeDaemon().URL
			} else {
				url = remote.ServeHTTP("s3cret-git-token")
				tokenFile := filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(tokenFile, []byte("s3cret-git-token\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				opts.TokenFile = tokenFile
			}
			opts.URL = url
			src, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rev, err := src.Fetch(ctx)
			if err != nil || rev.Hash != first || rev.String() != "main@sha1:"+first || rev.Message != "first" || !strings.Contains(rev.Author, "dev@example.com") {
				t.Fatalf("first fetch: %+v %v", rev, err)
			}
			if err := src.Checkout(rev); err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(filepath.Join(src.Dir(), "rasa-gitops.yaml")); err != nil || string(data) != "version: 1\n" {
				t.Errorf("checkout: %q, %v", data, err)
			}
			tree1 := pathTree(t, src, rev)
			if _, err := src.Fetch(ctx); !errors.Is(err, ErrUnchanged) {
				t.Errorf("second fetch: %v, want ErrUnchanged", err)
			}

			// A change outside --path gives a new revision with the same path tree.
			second := remote.Commit(map[string]string{"README.md": "changed\n"}, testgit.CommitOptions{})
			rev2, err := src.Fetch(ctx)
			if err != nil || rev2.Hash != second {
				t.Fatalf("fetch after push: %+v %v", rev2, err)
			}
			if tree2 := pathTree(t, src, rev2); tree2 != tree1 {
				t.Error("a change outside --path changed the path tree")
			}

			// A change inside --path, then a force-push that rewrites it away.
			third := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\nproject: x\n"}, testgit.CommitOptions{})
			rev3, err := src.Fetch(ctx)
			if err != nil {
				t.Fatalf("fetch after a change under --path: %v", err)
			}
			if tree3 := pathTree(t, src, rev3); rev3.Hash != third || tree3 == tree1 {
				t.Fatalf("change under --path not seen: %+v", rev3)
			}
			remote.ResetHard(first)
			rewritten := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\nproject: rewritten\n"}, testgit.CommitOptions{Message: "rewritten", Force: true})
			rev4, err := src.Fetch(ctx)
			if err != nil || rev4.Hash != rewritten {
				t.Fatalf("force-push not followed: %+v %v", rev4, err)
			}
			if err := src.Checkout(rev4); err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(filepath.Join(src.Dir(), "rasa-gitops.yaml")); err != nil || !strings.Contains(string(data), "rewritten") {
				t.Errorf("checkout after force-push: %q, %v", data, err)
			}
			// A new Source on the same state dir reuses the clone.
			again, err := Open(opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if rev5, err := again.Fetch(ctx); err != nil || rev5.Hash != rewritten {
				t.Errorf("reopened source: %+v %v", rev5, err)
			}
		})
	}
}

func pathTree(t *testing.T, src *Source, rev Revision) string {
	t.Helper()
	tree, err := src.PathTree(rev)
	if err != nil {
		t.Fatalf("path tree of %s: %v", rev, err)
	}
	return tree
}

func TestWrongTokenAndRemoteDown(t *testing.T) {
	remote := testgit.New(t)
	remote.Commit(map[string]string{"a": "1"}, testgit.CommitOptions{})
	url := remote.ServeHTTP("right-token")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("wrong-token-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := Open(Options{URL: url, StateDir: t.TempDir(), TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("wrong token: %v", err)
	}

	d := remote.ServeDaemon()
	src, err = Open(Options{URL: d.URL, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	newer := remote.Commit(map[string]string{"a": "2"}, testgit.CommitOptions{})
	if _, err := src.Fetch(context.Background()); err == nil {
		t.Error("a fetch from a stopped remote succeeded")
	}
	d.Start()
	if rev, err := src.Fetch(context.Background()); err != nil || rev.Hash != newer {
		t.Errorf("after the remote came back: %+v %v", rev, err)
	}
}

func TestVerifySignatures(t *testing.T) {
	remote := testgit.New(t)
	alice, alicePub := testgit.NewKey(t, "alice")
	_, malloryPub := testgit.NewKey(t, "mallory")
	signed := remote.Commit(map[string]string{"a": "1"}, testgit.CommitOptions{Sign: alice})
	src, err := Open(Options{URL: remote.ServeDaemon().URL, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := src.Fetch(context.Background())
	if err != nil || rev.Hash != signed || !rev.Signed {
		t.Fatalf("%+v %v", rev, err)
	}
	if id, err := src.Verify(rev, alicePub); err != nil || id == "" {
		t.Errorf("alice's signature: %q %v", id, err)
	}
	if _, err := src.Verify(rev, malloryPub); err == nil {
		t.Error("verified with another key")
	}
	// A key ring of several keys: the signer may be any of them, not only the first.
	if id, err := src.Verify(rev, malloryPub+"\n"+alicePub); err != nil || id == "" {
		t.Errorf("alice as the second key of the ring: %q %v", id, err)
	}
	unsigned := remote.Commit(map[string]string{"a": "2"}, testgit.CommitOptions{})
	rev2, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch of the unsigned commit: %v", err)
	}
	if _, err := src.Verify(rev2, alicePub); rev2.Hash != unsigned || err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("unsigned: %v", err)
	}
}

func TestCheckWebhook(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	secret := "hook-secret"
	// sha256 HMAC of body with secret, computed independently with openssl-like steps.
	sig := hmacHex(secret, body)
	cases := []struct {
		provider string
		header   http.Header
		ok       bool
	}{
		{GitHub, http.Header{"X-Hub-Signature-256": {"sha256=" + sig}}, true},
		{GitHub, http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("0", 64)}}, false},
		{GitHub, http.Header{}, false},
		{Gitea, http.Header{"X-Gitea-Signature": {sig}}, true},
		{Gitea, http.Header{"X-Gitea-Signature": {"nothex"}}, false},
		{GitLab, http.Header{"X-Gitlab-Token": {secret}}, true},
		{GitLab, http.Header{"X-Gitlab-Token": {"hook-secreT"}}, false},
		{Generic, http.Header{"X-Signature-256": {"sha256=" + sig}}, true},
		{Generic, http.Header{"X-Signature-256": {sig}}, false},
	}
	for i, c := range cases {
		err := CheckWebhook(c.provider, c.header, body, secret)
		if (err == nil) != c.ok {
			t.Errorf("case %d (%s): err = %v", i, c.provider, err)
		}
	}
	if CheckWebhook(GitHub, http.Header{"X-Hub-Signature-256": {"sha256=" + sig}}, body, "") == nil {
		t.Error("an empty secret accepted a webhook")
	}
	if WebhookBranch(body) != "main" || WebhookBranch([]byte("not json")) != "" {
		t.Error("WebhookBranch")
	}
}

func TestRetryClosedInputOnce(t *testing.T) {
	closed := errors.New("closing input: EOF") // as go-git v5 words the race
	cases := []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"success", []error{nil}, 1, true},
		{"closed input, then success", []error{closed, nil}, 2, true},
		{"closed input twice", []error{closed, closed}, 2, false},
		{"another error", []error{errors.New("ssh: handshake failed: EOF")}, 1, false},
	}
	for _, c := range cases {
		calls := 0
		err := retryClosedInput(func() error { calls++; return c.errs[calls-1] })
		if calls != c.calls || (err == nil) != c.ok {
			t.Errorf("%s: %d calls, %v; want %d calls, ok %v", c.name, calls, err, c.calls, c.ok)
		}
	}
}
