package gitsource

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// TestPushAnchor: anchors are appended to anchors.jsonl of the ref on the remote,
// where another clone reads them; a ref rewritten on the remote makes the next push
// fail, naming the ref, instead of continuing the forged history.
func TestPushAnchor(t *testing.T) {
	remote := testgit.New(t)
	remote.Commit(map[string]string{"rasa-gitops.yaml": "version: 1\n"}, testgit.CommitOptions{Message: "first"})
	src, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.PushAnchor(ctx, AnchorRef, []byte("{}\n"), "x"); err == nil {
		t.Error("a push before the first fetch was accepted")
	}
	if _, err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`{"rows":1}` + "\n", `{"rows":2}` + "\n"} {
		if err := src.PushAnchor(ctx, AnchorRef, []byte(line), "audit anchor"); err != nil {
			t.Fatal(err)
		}
	}
	other, err := Open(Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Anchors(ctx, AnchorRef)
	if err != nil || string(got) != `{"rows":1}`+"\n"+`{"rows":2}`+"\n" {
		t.Fatalf("anchors on the remote: %q, %v", got, err)
	}
	// Someone who can push rewrites the ref to drop the second anchor.
	out, err := exec.Command("git", "-C", remote.Bare, "update-ref", AnchorRef, AnchorRef+"~1").CombinedOutput()
	if err != nil {
		t.Fatalf("rewrite: %v %s", err, out)
	}
	err = src.PushAnchor(ctx, AnchorRef, []byte(`{"rows":3}`+"\n"), "audit anchor")
	if err == nil || !strings.Contains(err.Error(), "it was rewritten") || !strings.Contains(err.Error(), AnchorRef) {
		t.Fatalf("push onto a rewritten ref: %v", err)
	}
	if got, err := other.Anchors(ctx, AnchorRef); err != nil || string(got) != `{"rows":1}`+"\n" {
		t.Errorf("the refused push changed the remote: %q, %v", got, err)
	}
}
