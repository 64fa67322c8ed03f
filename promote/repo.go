package promote

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// open opens the repository holding repoDir and its work tree, sets the environment
// file's path and returns the declaration directory (a slash path relative to the
// work tree root).
func (p *promotion) open(repoDir, rel string) (string, error) {
	var err error
	if p.repo, err = git.PlainOpenWithOptions(repoDir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true}); err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return "", optionErrorf("--repo %s: not inside a Git repository", repoDir)
		}
		return "", fmt.Errorf("open repository %s: %w", repoDir, err)
	}
	if p.wt, err = p.repo.Worktree(); err != nil {
		return "", fmt.Errorf("repository %s: %w (promote needs a work tree to check the branch out)", repoDir, err)
	}
	dir, err := declarationDir(p.wt.Filesystem.Root(), repoDir, rel)
	if err != nil {
		return "", err
	}
	p.envFile = path.Join(dir, "environments", p.env+".yaml")
	return dir, nil
}

// readHead records HEAD and its commit, and refuses a branch that already exists. It
// returns HEAD as error messages name it: "HEAD (<12 hex digits>)".
func (p *promotion) readHead() (string, error) {
	var err error
	if p.head, err = p.repo.Storer.Reference(plumbing.HEAD); err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	headRef, err := p.repo.Head()
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return "", errors.New("the repository has no commit yet: commit the declaration first")
		}
		return "", fmt.Errorf("resolve HEAD: %w", err)
	}
	if p.base, err = p.repo.CommitObject(headRef.Hash()); err != nil {
		return "", fmt.Errorf("read HEAD commit %s: %w", headRef.Hash(), err)
	}
	if _, err := p.repo.Storer.Reference(p.branch); err == nil {
		return "", fmt.Errorf("branch %s already exists: delete it or push and open its pull request", p.branch.Short())
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", fmt.Errorf("read branch %s: %w", p.branch.Short(), err)
	}
	return "HEAD (" + headRef.Hash().String()[:12] + ")", nil
}

// checkClean refuses to run when the index differs from HEAD (its changes would be
// committed too) or when the environment file has uncommitted changes. Other files
// may be modified or untracked: they stay as they are, as with git checkout -b.
func (p *promotion) checkClean() error {
	st, err := p.wt.Status()
	if err != nil {
		return fmt.Errorf("status of the work tree: %w", err)
	}
	var dirty []string
	for file, s := range st {
		if s.Staging == git.Untracked && s.Worktree == git.Untracked {
			continue
		}
		if s.Staging != git.Unmodified || file == p.envFile && s.Worktree != git.Unmodified {
			dirty = append(dirty, file)
		}
	}
	if len(dirty) > 0 {
		sort.Strings(dirty)
		return fmt.Errorf("uncommitted changes in %s: commit or stash them first (promote commits only its own change)", strings.Join(dirty, ", "))
	}
	return nil
}

// commit creates and checks out the branch and commits the edit on it. On failure it
// puts HEAD, the index, the file and the branch back as they were.
func (p *promotion) commit() (plumbing.Hash, error) {
	if err := p.wt.Checkout(&git.CheckoutOptions{Branch: p.branch, Hash: p.base.Hash, Create: true, Keep: true}); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("create branch %s: %w", p.branch.Short(), err)
	}
	hash, err := p.commitOnBranch()
	if err != nil {
		if rerr := p.rollback(); rerr != nil {
			return plumbing.ZeroHash, fmt.Errorf("%w (and undoing the branch failed: %v)", err, rerr)
		}
		return plumbing.ZeroHash, err
	}
	return hash, nil
}

// commitOnBranch writes and stages the new file and commits it on the base commit.
func (p *promotion) commitOnBranch() (plumbing.Hash, error) {
	if err := util.WriteFile(p.wt.Filesystem, p.envFile, p.newContent, 0o644); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s: %w", p.envFile, err)
	}
	if _, err := p.wt.Add(p.envFile); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", p.envFile, err)
	}
	sig := p.author
	sig.When = time.Now()
	hash, err := p.wt.Commit(p.message(), &git.CommitOptions{
		Author:    &sig,
		Committer: &sig,
		Parents:   []plumbing.Hash{p.base.Hash},
		SignKey:   p.signKey,
	})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	return hash, nil
}

// message is the commit message; its subject is what the pull request is titled.
func (p *promotion) message() string {
	return fmt.Sprintf("promote(%s): %s\n\nPromotes model %s to environment %s.\n", p.env, p.model, p.model, p.env)
}

// rollback undoes what commit did before it failed.
func (p *promotion) rollback() error {
	var errs []error
	if err := util.WriteFile(p.wt.Filesystem, p.envFile, p.oldContent, 0o644); err != nil {
		errs = append(errs, err)
	} else if _, err := p.wt.Add(p.envFile); err != nil {
		errs = append(errs, err)
	}
	if err := p.repo.Storer.SetReference(p.head); err != nil {
		errs = append(errs, err)
	}
	if err := p.repo.Storer.RemoveReference(p.branch); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pushRemote names the remote the branch is pushed to: origin, else the only or
// first one by name; origin when there is none, as the usual name to add.
func pushRemote(r *git.Repository) string {
	remotes, err := r.Remotes()
	if err != nil || len(remotes) == 0 {
		return "origin"
	}
	names := make([]string, 0, len(remotes))
	for _, rm := range remotes {
		if rm.Config().Name == "origin" {
			return "origin"
		}
		names = append(names, rm.Config().Name)
	}
	sort.Strings(names)
	return names[0]
}
