package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// Input is the source stage's output: one revision of the declaration, checked out.
type Input struct {
	// Revision labels containers and audit rows: main@sha1:<hash> or local@sha256:<fp>.
	Revision string
	// ID identifies the revision (a commit hash or an input fingerprint); Tree
	// identifies what it declares (two revisions with one Tree declare the same thing).
	ID, Tree string
	Short    string
	Author   string
	Dir      string
	// Signer names the key that signed the revision, among keys the verifier knows.
	Signed bool
	// Verify checks the revision's signature against an armored key ring (nil: the
	// source has no signatures, and every signer policy refuses).
	Verify func(keyRing string) (string, error)
}

// Source is where runs get their revision. Next returns the revision to run: with
// fetch, the newest one (changed reports it differs from the last one returned);
// without, the last one again.
type Source interface {
	Next(ctx context.Context, fetch bool) (in Input, changed bool, err error)
}

// Collector is a Source that keeps per-revision files and can drop those nothing
// uses any more.
type Collector interface {
	Collect(ctx context.Context, engine reconcile.Engine, keep []string)
}

// GitSource follows a branch (gitsource.Source): one read-only checkout per revision.
type GitSource struct {
	Git     *gitsource.Source
	current *Input
}

// Next fetches (when asked), checks out a new head and describes it.
func (g *GitSource) Next(ctx context.Context, fetch bool) (Input, bool, error) {
	if !fetch && g.current != nil {
		return *g.current, false, nil
	}
	rev, err := g.Git.Fetch(ctx)
	if errors.Is(err, gitsource.ErrUnchanged) && g.current != nil {
		return *g.current, false, nil
	}
	if err != nil && !errors.Is(err, gitsource.ErrUnchanged) {
		if g.current != nil {
			return *g.current, false, err
		}
		return Input{}, false, err
	}
	if err := g.Git.Checkout(rev); err != nil {
		return Input{}, false, fmt.Errorf("check out %s: %w", rev.Short(), err)
	}
	tree, err := g.Git.PathTree(rev)
	if err != nil {
		tree = rev.Hash
	}
	if g.current != nil && tree == g.current.Tree {
		// A commit outside --path declares the same thing: nothing changed.
		return *g.current, false, nil
	}
	in := Input{Revision: rev.String(), ID: rev.Hash, Tree: tree, Short: rev.Short(), Author: rev.Author, Dir: g.Git.Dir(), Signed: rev.Signed,
		Verify: func(keyRing string) (string, error) { return g.Git.Verify(rev, keyRing) }}
	g.current = &in
	return in, true, nil
}

// Collect removes revision checkouts nothing uses: kept are the given revisions and
// every checkout a managed container bind-mounts from (an environment that keeps an
// older revision reads its files). When in doubt, it keeps everything.
func (g *GitSource) Collect(ctx context.Context, engine reconcile.Engine, keepIDs []string) {
	keep := map[string]bool{}
	for _, id := range keepIDs {
		keep[id] = true
	}
	if g.current != nil {
		keep[g.current.ID] = true
	}
	list, err := engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelManaged+"=true"))})
	if err != nil {
		return
	}
	root := g.Git.CheckoutsDir() + string(filepath.Separator)
	for _, c := range list {
		for _, m := range c.Mounts {
			if rest, ok := strings.CutPrefix(m.Source, root); ok {
				hash, _, _ := strings.Cut(rest, string(filepath.Separator))
				keep[hash] = true
			}
		}
	}
	g.Git.GC(keep)
}

// DirSource is a plain declaration directory (apply, serve): its revision is the
// fingerprint of its inputs, or a label the caller gives.
type DirSource struct {
	Dir string
	// Fingerprint hashes everything the rendering reads (compose.Fingerprint).
	Fingerprint func() (string, error)
	// Revision, when set, labels the run instead of local@sha256:<fingerprint>.
	Revision string
	Author   string
	last     string
}

// Next fingerprints the directory; changed says the inputs moved since last time.
func (d *DirSource) Next(_ context.Context, _ bool) (Input, bool, error) {
	fp, err := d.Fingerprint()
	if err != nil {
		return Input{}, false, err
	}
	rev := d.Revision
	if rev == "" {
		rev = "local@sha256:" + fp[:12]
	}
	changed := fp != d.last
	d.last = fp
	return Input{Revision: rev, ID: fp, Tree: fp, Short: rev, Author: d.Author, Dir: d.Dir}, changed, nil
}
