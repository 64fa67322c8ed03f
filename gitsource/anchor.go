package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/rasa-gitops/rasa-gitops/internal/redact"
)

// AnchorRef is where the daemon keeps the audit chain's anchors in the declaration
// repository, outside every branch: a history of one file, anchors.jsonl.
const AnchorRef = "refs/rasa-gitops/audit"

// anchorFile is the file of AnchorRef's commits: one JSON anchor per line.
const anchorFile = "anchors.jsonl"

// PushAnchor appends line (one JSON anchor, newline-terminated) to anchors.jsonl on
// ref, as a new commit on top of the last one this clone pushed (the remote's, the
// first time), and pushes it without force: a ref rewritten on the remote since makes
// the push fail, naming it, rather than be papered over. The credentials are the
// fetch's. It needs a first Fetch (the clone).
func (s *Source) PushAnchor(ctx context.Context, ref string, line []byte, message string) error {
	if s.repo == nil {
		return errors.New("push audit anchor: no clone yet (it is made by the first fetch)")
	}
	name := plumbing.ReferenceName(ref)
	parent, content, err := s.lastAnchors(ctx, name)
	if err != nil {
		return err
	}
	commit, err := s.anchorCommit(parent, append(content, line...), message)
	if err != nil {
		return fmt.Errorf("push audit anchor: %w", err)
	}
	if err := s.repo.Storer.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
		return fmt.Errorf("push audit anchor: %w", err)
	}
	err = s.repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: s.auth,
		RefSpecs: []config.RefSpec{config.RefSpec(ref + ":" + ref)}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		s.resetAnchorRef(name, parent)
		return fmt.Errorf("push audit anchor to %s %s: %w", redact.URL(s.opts.URL), ref, err)
	}
	return nil
}

// resetAnchorRef points the clone's ref back at the last commit the remote took.
func (s *Source) resetAnchorRef(name plumbing.ReferenceName, last plumbing.Hash) {
	if last.IsZero() {
		s.repo.Storer.RemoveReference(name)
		return
	}
	s.repo.Storer.SetReference(plumbing.NewHashReference(name, last))
}

// lastAnchors is the commit and anchors.jsonl this clone last pushed to ref, or the
// remote's when it pushed none. When the remote's ref is no longer that commit, it
// was rewritten (or pushed by someone else): an error names both commits.
func (s *Source) lastAnchors(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, []byte, error) {
	remote, content, err := s.fetchAnchors(ctx, ref)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	local, lerr := s.repo.Reference(ref, true)
	if lerr != nil || local.Hash().IsZero() || local.Hash() == remote {
		return remote, content, nil
	}
	return plumbing.ZeroHash, nil, fmt.Errorf("push audit anchor: %s on %s is %s, not %s, the anchors this daemon pushed last: it was rewritten; inspect it (git log %s) before anything else moves it",
		ref, redact.URL(s.opts.URL), shortHash(remote), shortHash(local.Hash()), ref)
}

// shortHash abbreviates a commit hash for messages ("none" for no commit).
func shortHash(h plumbing.Hash) string {
	if h.IsZero() {
		return "none"
	}
	return h.String()[:12]
}

// fetchAnchors reads the remote's anchor ref: its commit (zero when the ref does not
// exist yet) and the content of its anchors.jsonl.
func (s *Source) fetchAnchors(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, []byte, error) {
	tracking := plumbing.ReferenceName("refs/remotes/origin/rasa-gitops-audit")
	err := s.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Auth: s.auth, Force: true, Tags: git.NoTags,
		RefSpecs: []config.RefSpec{config.RefSpec("+" + string(ref) + ":" + string(tracking))}})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch):
		return plumbing.ZeroHash, nil, nil // the first anchor
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return plumbing.ZeroHash, nil, fmt.Errorf("fetch audit anchors from %s: %w", redact.URL(s.opts.URL), err)
	}
	r, err := s.repo.Reference(tracking, true)
	if err != nil {
		return plumbing.ZeroHash, nil, fmt.Errorf("fetch audit anchors: %w", err)
	}
	content, err := s.anchorContent(r.Hash())
	return r.Hash(), content, err
}

// anchorContent is anchors.jsonl of the commit at hash.
func (s *Source) anchorContent(hash plumbing.Hash) ([]byte, error) {
	c, err := s.repo.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("read audit anchors: %w", err)
	}
	f, err := c.File(anchorFile)
	if err != nil {
		return nil, fmt.Errorf("read audit anchors: %s of %s: %w", anchorFile, hash, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read audit anchors: %w", err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// anchorCommit stores a commit whose tree is anchors.jsonl with content.
func (s *Source) anchorCommit(parent plumbing.Hash, content []byte, message string) (plumbing.Hash, error) {
	blob, err := s.store(func(o plumbing.EncodedObject) error {
		o.SetType(plumbing.BlobObject)
		w, err := o.Writer()
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, bytes.NewReader(content)); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: anchorFile, Mode: filemode.Regular, Hash: blob}}}
	treeHash, err := s.store(tree.Encode)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := object.Signature{Name: "rasa-gitops", Email: "rasa-gitops@localhost", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: treeHash}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return s.store(c.Encode)
}

// store encodes one object into the clone's object store.
func (s *Source) store(encode func(plumbing.EncodedObject) error) (plumbing.Hash, error) {
	o := s.repo.Storer.NewEncodedObject()
	if err := encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.repo.Storer.SetEncodedObject(o)
}

// Anchors reads anchors.jsonl of ref on the remote (nil when the ref does not exist),
// for `audit verify --anchor` and tests.
func (s *Source) Anchors(ctx context.Context, ref string) ([]byte, error) {
	if s.repo == nil {
		if err := s.openOrClone(ctx); err != nil {
			return nil, err
		}
	}
	_, content, err := s.fetchAnchors(ctx, plumbing.ReferenceName(ref))
	return content, err
}
