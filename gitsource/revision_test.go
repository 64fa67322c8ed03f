package gitsource

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// TestFetchRevisionOfAPullRequest: a preview fetches a pull request's head by ref and
// by hash (a commit on no branch), and the followed branch's head is unmoved by it.
func TestFetchRevisionOfAPullRequest(t *testing.T) {
	remote := testgit.New(t)
	base := remote.Commit(map[string]string{"environments/production.yaml": "model: a\n"}, testgit.CommitOptions{Message: "base"})
	head := remote.Commit(map[string]string{"environments/production.yaml": "model: b\n"}, testgit.CommitOptions{Message: "promote"})
	// The forge's view: main is at base, the pull request's head at head.
	for _, args := range [][]string{{"update-ref", "refs/pull/7/head", head}, {"update-ref", "refs/heads/main", base}} {
		if out, err := exec.Command("git", append([]string{"--git-dir", remote.Bare}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	ctx := context.Background()
	src, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := src.Fetch(ctx); err != nil || rev.Hash != base {
		t.Fatalf("fetch main = %v, %v; want %s", rev.Hash, err, base)
	}
	rev, err := src.FetchRevision(ctx, "refs/pull/7/head")
	if err != nil || rev.Hash != head || rev.Message != "promote" {
		t.Fatalf("fetch refs/pull/7/head = %+v, %v; want %s", rev, err, head)
	}
	if rev, err := src.Fetch(ctx); !errors.Is(err, ErrUnchanged) || rev.Hash != base {
		t.Errorf("after a preview fetch, main = %v, %v; want %s unchanged", rev.Hash, err, base)
	}
	fresh, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := fresh.FetchRevision(ctx, head); err != nil || rev.Hash != head {
		t.Errorf("fetch by hash = %v, %v; want %s", rev.Hash, err, head)
	}
	for _, bad := range []string{"", "main:refs/heads/evil", "refs/heads/../x", "a b", "deadbeef", "no-such-branch",
		"refs/pull/99/head", strings.Repeat("ab", 20)} {
		if _, err := fresh.FetchRevision(ctx, bad); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("FetchRevision(%q) = %v, want ErrUnknownRevision", bad, err)
		}
	}
	// A repository that cannot be reached is no mistake of the caller's.
	gone, err := Open(Options{URL: filepath.Join(t.TempDir(), "gone.git"), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.FetchRevision(ctx, "main"); err == nil || errors.Is(err, ErrUnknownRevision) {
		t.Errorf("FetchRevision from a missing repository = %v, want an error that is not ErrUnknownRevision", err)
	}
}
