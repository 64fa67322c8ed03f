package gitsource

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/rasa-gitops/rasa-gitops/internal/redact"
)

var (
	commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// safeRef is what a preview may ask for: a ref name without anything git's refspec
	// syntax would read as an instruction (no ':', '*', '^', '~', '..', spaces).
	safeRef = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// previewRefs are the refs a commit asked for by hash is looked for in: the followed
// branch, every branch, and the pull/merge request heads of GitHub, Gitea and GitLab
// (servers rarely allow fetching an unadvertised commit by hash).
var previewRefs = []string{
	"+refs/heads/*:refs/preview/heads/*",
	"+refs/pull/*/head:refs/preview/pull/*",
	"+refs/merge-requests/*/head:refs/preview/merge-requests/*",
}

// ErrUnknownRevision marks a revision FetchRevision was given wrongly: not a hash,
// branch or ref, or one the repository does not have. Any other error is the
// repository's (unreachable, refused): worth a retry, not a correction.
var ErrUnknownRevision = errors.New("unknown revision")

// FetchRevision fetches one revision that is not necessarily the followed branch's
// head, for a preview: a full ref (refs/pull/7/head, refs/heads/promote/x), a branch
// name, or a commit hash reachable from a branch or a pull request. It never moves
// what Fetch reports (the followed head): a Source used for previews may be the
// daemon's own clone directory only when no run uses it at the same time.
func (s *Source) FetchRevision(ctx context.Context, want string) (Revision, error) {
	want = strings.TrimSpace(want)
	if want == "" || !safeRef.MatchString(want) || strings.Contains(want, "..") {
		return Revision{}, fmt.Errorf("%w: revision %q: give a commit hash, a branch or a ref such as refs/pull/7/head", ErrUnknownRevision, want)
	}
	if s.repo == nil {
		if err := s.openOrClone(ctx); err != nil {
			return Revision{}, err
		}
	}
	if commitHash.MatchString(want) {
		return s.fetchCommit(ctx, want)
	}
	ref := want
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	local := "refs/preview/" + strings.TrimPrefix(ref, "refs/")
	if err := s.fetchRefSpecs(ctx, "+"+ref+":"+local); err != nil {
		if errors.Is(err, git.NoMatchingRefSpecError{}) {
			return Revision{}, fmt.Errorf("%w: %s is not a branch or ref of %s", ErrUnknownRevision, want, redact.URL(s.opts.URL))
		}
		return Revision{}, err
	}
	r, err := s.repo.Reference(plumbing.ReferenceName(local), true)
	if err != nil {
		return Revision{}, fmt.Errorf("fetch %s: %w", want, err)
	}
	return s.revision(r.Hash())
}

// fetchCommit finds a commit by hash, fetching the branches and pull request heads
// when the clone does not have it yet.
func (s *Source) fetchCommit(ctx context.Context, hash string) (Revision, error) {
	h := plumbing.NewHash(hash)
	if _, err := s.repo.CommitObject(h); err == nil {
		return s.revision(h)
	}
	if err := s.fetchRefSpecs(ctx, previewRefs...); err != nil {
		return Revision{}, err
	}
	if _, err := s.repo.CommitObject(h); err != nil {
		return Revision{}, fmt.Errorf("%w: commit %s is on no branch or pull request of %s", ErrUnknownRevision, hash[:12], redact.URL(s.opts.URL))
	}
	return s.revision(h)
}

func (s *Source) fetchRefSpecs(ctx context.Context, specs ...string) error {
	refSpecs := make([]config.RefSpec, len(specs))
	for i, spec := range specs {
		refSpecs[i] = config.RefSpec(spec)
	}
	err := retryClosedInput(func() error {
		return s.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: refSpecs, Auth: s.auth, Force: true, Tags: git.NoTags})
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s %s: %w", redact.URL(s.opts.URL), strings.Join(specs, " "), err)
	}
	return nil
}
