package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/rasa-gitops/rasa-gitops/internal/redact"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrUnchanged is returned by Fetch when the branch still points at the commit
// already known: an expected non-error.
var ErrUnchanged = errors.New("unchanged")

// Options say which repository, branch and path to follow, and how to authenticate.
type Options struct {
	URL    string
	Branch string // default main
	Path   string // the declaration directory inside the repository; default "."
	// StateDir holds the clone (<state>/git/<url digest>).
	StateDir string
	// TokenFile holds an HTTPS token (basic auth; the user is "git" unless Username).
	TokenFile string
	Username  string
	// SSHKeyFile is a private key; KnownHostsFile the known_hosts to check hosts against.
	SSHKeyFile     string
	KnownHostsFile string
}

// Revision is one commit of the branch, with what the audit log records of it.
type Revision struct {
	Branch    string
	Hash      string
	Author    string
	Committer string
	Time      time.Time
	Message   string
	Signed    bool // has a signature (verified only by Verify)
}

// String writes the revision as <branch>@sha1:<hash>.
func (r Revision) String() string { return r.Branch + "@sha1:" + r.Hash }

// Short is the revision with an abbreviated hash, for humans.
func (r Revision) Short() string {
	if len(r.Hash) > 12 {
		return r.Branch + "@sha1:" + r.Hash[:12]
	}
	return r.String()
}

// Source follows one branch.
type Source struct {
	opts Options
	dir  string
	auth transport.AuthMethod
	repo *git.Repository
	last string // hash of the last fetched head
	// current is the checkout of the last Checkout: <state>/checkouts/<hash>.
	current string
}

// Open prepares the source; the first Fetch clones.
func Open(opts Options) (*Source, error) {
	if opts.URL == "" {
		return nil, errors.New("git source: no repository URL (--repo)")
	}
	if opts.Branch == "" {
		opts.Branch = "main"
	}
	if opts.Path == "" {
		opts.Path = "."
	}
	clean := path.Clean(filepath.ToSlash(opts.Path))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("git source: --path %q must be a path inside the repository", opts.Path)
	}
	opts.Path = clean
	sum := sha256.Sum256([]byte(opts.URL + "\x00" + opts.Branch))
	s := &Source{opts: opts, dir: filepath.Join(opts.StateDir, "git", hex.EncodeToString(sum[:8]))}
	auth, err := authMethod(opts)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	return s, nil
}

func authMethod(o Options) (transport.AuthMethod, error) {
	switch {
	case o.SSHKeyFile != "":
		key, err := os.ReadFile(o.SSHKeyFile)
		if err != nil {
			return nil, fmt.Errorf("git source: read ssh key: %w", err)
		}
		user := o.Username
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, key, "")
		if err != nil {
			return nil, fmt.Errorf("git source: ssh key %s: %w", o.SSHKeyFile, err)
		}
		if o.KnownHostsFile != "" {
			cb, err := gitssh.NewKnownHostsCallback(o.KnownHostsFile)
			if err != nil {
				return nil, fmt.Errorf("git source: known_hosts %s: %w", o.KnownHostsFile, err)
			}
			keys.HostKeyCallback = namingHostKey(cb, o.KnownHostsFile)
		} else {
			return nil, errors.New("git source: an SSH key needs --known-hosts: hosts are always checked")
		}
		return keys, nil
	case o.TokenFile != "":
		data, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("git source: read token file: %w", err)
		}
		user := o.Username
		if user == "" {
			user = "git"
		}
		return &http.BasicAuth{Username: user, Password: strings.TrimSpace(string(data))}, nil
	}
	return nil, nil
}

// namingHostKey wraps a known_hosts check so a refused host key is named by its
// SHA256 fingerprint (as ssh-keygen -l prints it), for the operator to compare with
// the server's before trusting it; a changed key also names the one the file lists.
func namingHostKey(check ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := check(host, remote, key)
		if err == nil {
			return nil
		}
		offered := fmt.Sprintf("ssh host key %s (%s) of %s", ssh.FingerprintSHA256(key), key.Type(), host)
		var keyErr *knownhosts.KeyError
		switch {
		case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
			return fmt.Errorf("%s is not in known_hosts %s: %w", offered, file, err)
		case errors.As(err, &keyErr):
			known := make([]string, len(keyErr.Want))
			for i, k := range keyErr.Want {
				known[i] = fmt.Sprintf("line %d has %s", k.Line, ssh.FingerprintSHA256(k.Key))
			}
			return fmt.Errorf("%s does not match known_hosts %s (%s): %w", offered, file, strings.Join(known, ", "), err)
		}
		return fmt.Errorf("%s is refused by known_hosts %s: %w", offered, file, err)
	}
}

// Dir is the declaration directory of the checked-out revision.
func (s *Source) Dir() string { return filepath.Join(s.current, filepath.FromSlash(s.opts.Path)) }

// CheckoutsDir holds one read-only tree per checked-out revision.
func (s *Source) CheckoutsDir() string { return filepath.Join(s.opts.StateDir, "checkouts") }

// Branch is the followed branch.
func (s *Source) Branch() string { return s.opts.Branch }

// Fetch brings the branch up to date and returns its head; ErrUnchanged (with the
// head) when it did not move since the last Fetch. A force-pushed branch is followed.
func (s *Source) Fetch(ctx context.Context) (Revision, error) {
	if s.repo == nil {
		if err := s.openOrClone(ctx); err != nil {
			return Revision{}, err
		}
	}
	refspec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", s.opts.Branch, s.opts.Branch))
	err := retryClosedInput(func() error {
		return s.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{refspec}, Auth: s.auth, Force: true, Tags: git.NoTags})
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return Revision{}, fmt.Errorf("fetch %s %s: %w", redact.URL(s.opts.URL), s.opts.Branch, err)
	}
	ref, err := s.repo.Reference(plumbing.NewRemoteReferenceName("origin", s.opts.Branch), true)
	if err != nil {
		return Revision{}, fmt.Errorf("fetch %s: branch %s: %w", redact.URL(s.opts.URL), s.opts.Branch, err)
	}
	rev, err := s.revision(ref.Hash())
	if err != nil {
		return Revision{}, err
	}
	if ref.Hash().String() == s.last {
		return rev, ErrUnchanged
	}
	s.last = ref.Hash().String()
	return rev, nil
}

func (s *Source) openOrClone(ctx context.Context) error {
	if repo, err := git.PlainOpen(s.dir); err == nil {
		if remote, err := repo.Remote("origin"); err == nil && len(remote.Config().URLs) > 0 && remote.Config().URLs[0] == s.opts.URL {
			s.repo = repo
			return nil
		}
		os.RemoveAll(s.dir) // another URL: start afresh
	}
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.dir), ".clone-*")
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	err = retryClosedInput(func() error {
		os.RemoveAll(tmp) // what a failed attempt left
		_, err := git.PlainCloneContext(ctx, tmp, false, &git.CloneOptions{URL: s.opts.URL, Auth: s.auth, ReferenceName: plumbing.NewBranchReferenceName(s.opts.Branch),
			SingleBranch: true, NoCheckout: true, Tags: git.NoTags})
		return err
	})
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("clone %s %s: %w", redact.URL(s.opts.URL), s.opts.Branch, err)
	}
	os.RemoveAll(s.dir)
	if err := os.Rename(tmp, s.dir); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	repo, err := git.PlainOpen(s.dir)
	if err != nil {
		return fmt.Errorf("open clone: %w", err)
	}
	s.repo = repo
	return nil
}

// retryClosedInput runs a clone or fetch again, once, when it failed only because the
// server closed the connection before go-git closed its side of it: go-git v5 reports
// that race (seen over SSH) as "closing input: EOF" although the server did its part
// (go-git#1685, fixed in go-git v6). Nothing was written yet; a second failure is
// returned as it is.
func retryClosedInput(transfer func() error) error {
	err := transfer()
	if err != nil && strings.HasSuffix(err.Error(), "closing input: EOF") {
		err = transfer()
	}
	return err
}

func (s *Source) revision(h plumbing.Hash) (Revision, error) {
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return Revision{}, fmt.Errorf("read commit %s: %w", h, err)
	}
	return Revision{Branch: s.opts.Branch, Hash: h.String(), Author: c.Author.Name + " <" + c.Author.Email + ">",
		Committer: c.Committer.Name + " <" + c.Committer.Email + ">", Time: c.Committer.When, Message: strings.TrimSpace(c.Message), Signed: c.PGPSignature != ""}, nil
}

// Checkout writes the revision's tree into its own directory,
// <state>/checkouts/<hash> (once; a revision's tree never changes), and makes it the
// current one. Each revision having its own files, a container of an environment that
// keeps an older revision (refused, held) keeps reading that revision's files.
func (s *Source) Checkout(rev Revision) error {
	dir := filepath.Join(s.CheckoutsDir(), rev.Hash)
	if _, err := os.Stat(filepath.Join(dir, ".rasa-gitops-checkout")); err == nil {
		s.current = dir
		return nil
	}
	c, err := s.repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		return fmt.Errorf("checkout %s: %w", rev.Short(), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("checkout %s: %w", rev.Short(), err)
	}
	if err := os.MkdirAll(s.CheckoutsDir(), 0o755); err != nil {
		return fmt.Errorf("checkout %s: %w", rev.Short(), err)
	}
	tmp, err := os.MkdirTemp(s.CheckoutsDir(), ".tmp-"+rev.Hash[:12]+"-")
	if err != nil {
		return fmt.Errorf("checkout %s: %w", rev.Short(), err)
	}
	err = tree.Files().ForEach(func(f *object.File) error { return writeEntry(tmp, f) })
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, ".rasa-gitops-checkout"), []byte(rev.String()+"\n"), 0o444)
	}
	if err == nil {
		err = readOnlyDirs(tmp)
	}
	if err == nil {
		removeTree(dir)
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		removeTree(tmp)
		return fmt.Errorf("checkout %s: %w", rev.Short(), err)
	}
	s.current = dir
	return nil
}

// writeEntry writes one file of a tree under root, refusing names that would leave it.
func writeEntry(root string, f *object.File) error {
	name := path.Clean(f.Name)
	if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") {
		return fmt.Errorf("tree entry %q leaves the checkout", f.Name)
	}
	target := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	switch f.Mode {
	case filemode.Symlink:
		link, err := f.Contents()
		if err != nil {
			return err
		}
		return os.Symlink(link, target)
	case filemode.Submodule:
		return nil
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	mode := os.FileMode(0o444) // a checkout is read-only: a revision is what Git says
	if f.Mode == filemode.Executable {
		mode = 0o555
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// GC removes the checkouts of revisions not in keep (by hash).
func (s *Source) GC(keep map[string]bool) {
	entries, err := os.ReadDir(s.CheckoutsDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && !keep[e.Name()] && filepath.Join(s.CheckoutsDir(), e.Name()) != s.current {
			removeTree(filepath.Join(s.CheckoutsDir(), e.Name()))
		}
	}
}

// readOnlyDirs makes every directory of a written checkout read-only (0555), deepest
// first, so nothing adds or removes a file of a revision.
func readOnlyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	for i := len(dirs) - 1; i >= 0 && err == nil; i-- {
		err = os.Chmod(dirs[i], 0o555)
	}
	return err
}

// removeTree removes a read-only checkout: its directories are made writable first,
// which a user other than root needs.
func removeTree(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(root)
}

// PathTree is the hash of the --path subtree of a revision: two revisions with the
// same PathTree declare the same thing, so changes elsewhere trigger nothing.
func (s *Source) PathTree(rev Revision) (string, error) {
	c, err := s.repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		return "", fmt.Errorf("read commit %s: %w", rev.Short(), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", err
	}
	if s.opts.Path == "." {
		return tree.Hash.String(), nil
	}
	sub, err := tree.Tree(s.opts.Path)
	if err != nil {
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return "", fmt.Errorf("revision %s has no directory %s (--path)", rev.Short(), s.opts.Path)
		}
		return "", err
	}
	return sub.Hash.String(), nil
}

// Verify checks the revision's commit signature against an armored OpenPGP key ring
// and returns the signing key's ID.
func (s *Source) Verify(rev Revision, armoredKeyRing string) (string, error) {
	c, err := s.repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		return "", err
	}
	if c.PGPSignature == "" {
		return "", errors.New("the commit is not signed")
	}
	// go-git reads one armored block per key ring: try each allowed key in turn.
	var lastErr error
	for _, key := range splitArmored(armoredKeyRing) {
		entity, err := c.Verify(key)
		if err == nil {
			return strings.ToUpper(hex.EncodeToString(entity.PrimaryKey.Fingerprint)), nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no keys")
	}
	return "", fmt.Errorf("the signature does not verify with the allowed keys: %w", lastErr)
}

// splitArmored splits concatenated armored public key blocks.
func splitArmored(ring string) []string {
	const begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	var out []string
	for _, part := range strings.Split(ring, begin) {
		if strings.TrimSpace(part) != "" {
			out = append(out, begin+part)
		}
	}
	return out
}

// CommitSubject is the first line of the message of the commit hash (full hex) in the
// local clone, for the status page. It opens the clone on its own, read only, so it
// may run beside a run that fetches; a commit not fetched yet is an error.
func (s *Source) CommitSubject(hash string) (string, error) {
	repo, err := git.PlainOpen(s.dir)
	if err != nil {
		return "", fmt.Errorf("commit subject: %w", err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		return "", fmt.Errorf("commit subject of %.10s: %w", hash, err)
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return strings.TrimSpace(subject), nil
}
