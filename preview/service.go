package preview

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
)

// ErrBadRevision marks a revision the caller named wrongly (not a hash, branch or
// ref, or one the repository does not have): the API answers it 400, not 500.
var ErrBadRevision = errors.New("bad revision")

// ErrFetch marks a revision that could not be fetched for a reason of the
// repository's (unreachable, refused): retry later.
var ErrFetch = errors.New("the repository could not be fetched; retry")

// Service previews revisions of the daemon's repository (POST /api/preview). It
// fetches with a Git source of its own (its own clone, under the state directory's
// preview/), so a preview never moves or races the branch the daemon follows, and
// previews run one at a time.
type Service struct {
	Git  *gitsource.Source
	Host Host
	Log  *zap.Logger

	mu sync.Mutex
}

// Preview fetches the revision, checks it out, previews it and records the preview
// in the audit log. Only the last preview's checkout is kept (GC).
func (s *Service) Preview(ctx context.Context, revision string) (Result, error) {
	res, err := s.preview(ctx, revision)
	if err != nil {
		return res, err
	}
	if err := s.Host.State.Record(context.WithoutCancel(ctx), res.Entry()); err != nil {
		return res, fmt.Errorf("preview: record it in the audit log: %w", err)
	}
	if s.Log != nil {
		s.Log.Info("preview", zap.String("revision", res.Revision), zap.String("summary", res.Summary()))
	}
	return res, nil
}

// Look previews the revision like Preview but records nothing: the status page shows
// what a held or refused revision would do, on every refresh, and that is a read of
// the host, not a person's preview.
func (s *Service) Look(ctx context.Context, revision string) (Result, error) {
	return s.preview(ctx, revision)
}

func (s *Service) preview(ctx context.Context, revision string) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, err := s.Git.FetchRevision(ctx, revision)
	if err != nil {
		if errors.Is(err, gitsource.ErrUnknownRevision) {
			return Result{}, fmt.Errorf("%w: %w", ErrBadRevision, err)
		}
		return Result{}, fmt.Errorf("preview: %w: %w", ErrFetch, err)
	}
	if err := s.Git.Checkout(rev); err != nil {
		return Result{}, fmt.Errorf("preview: %w", err)
	}
	defer s.Git.GC(nil)
	in := pipeline.Input{Revision: rev.String(), ID: rev.Hash, Short: rev.Short(), Author: rev.Author, Dir: s.Git.Dir(), Signed: rev.Signed,
		Verify: func(keyRing string) (string, error) { return s.Git.Verify(rev, keyRing) }}
	return Run(ctx, s.Host, in)
}
