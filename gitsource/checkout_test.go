package gitsource

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// TestCheckoutsAreReadOnly: a revision's checkout is written read-only (files 0444,
// executables 0555, directories 0555), as the README says, and GC still removes it.
func TestCheckoutsAreReadOnly(t *testing.T) {
	remote := testgit.New(t)
	first := remote.Commit(map[string]string{"rasa-gitops.yaml": "version: 1\n", "environments/production.yaml": "model: a\n"}, testgit.CommitOptions{Message: "first"})
	src, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := src.Fetch(context.Background())
	if err != nil || rev.Hash != first {
		t.Fatalf("fetch: %v %v", rev, err)
	}
	if err := src.Checkout(rev); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(src.CheckoutsDir(), rev.Hash)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o444)
		if d.IsDir() {
			want = 0o555
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	remote.Commit(map[string]string{"environments/production.yaml": "model: b\n"}, testgit.CommitOptions{Message: "second"})
	next, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Checkout(next); err != nil {
		t.Fatal(err)
	}
	src.GC(map[string]bool{next.Hash: true})
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("GC left the old read-only checkout: %v", err)
	}
}

// TestCommitSubject: the subject is the message's first line, read from the clone;
// a commit the clone has not fetched is an error.
func TestCommitSubject(t *testing.T) {
	remote := testgit.New(t)
	first := remote.Commit(map[string]string{"rasa-gitops.yaml": "version: 1\n"}, testgit.CommitOptions{Message: "promote moodbot-v2 to production\n\nWhy: better intents"})
	src, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := src.CommitSubject(first); err != nil || got != "promote moodbot-v2 to production" {
		t.Errorf("subject %q, %v", got, err)
	}
	later := remote.Commit(map[string]string{"a": "b\n"}, testgit.CommitOptions{Message: "not fetched"})
	if got, err := src.CommitSubject(later); err == nil {
		t.Errorf("an unfetched commit has the subject %q", got)
	}
}
