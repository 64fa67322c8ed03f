package promote

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// declaration is a small declaration repository: a catalogue of two models, an
// environment with a commented model: line and one without any.
var declaration = map[string]string{
	"models.yaml":                  "# catalogue\nmodels:\n  moodbot-v1: {sha256: aa}\n  moodbot-v2: {sha256: bb}\n",
	"environments/production.yaml": "# Production.\nmodel: moodbot-v1   # promoted by pull request\npublish: \"127.0.0.1:5005\"\n",
	"environments/worker.yaml":     "# The worker serves no model.\nservice:\n  image: worker\n",
}

// testRepo is a Git repository (branch main) holding declaration under dir, and a
// README.md outside it, committed once.
type testRepo struct {
	root string
	dir  string
	repo *git.Repository
	head plumbing.Hash
}

func newTestRepo(t *testing.T, dir string) *testRepo {
	t.Helper()
	isolateGitConfig(t)
	root := t.TempDir()
	repo, err := git.PlainInitWithOptions(root, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &testRepo{root: root, dir: dir, repo: repo}
	for name, content := range declaration {
		r.write(t, path.Join(dir, name), content)
	}
	r.write(t, "README.md", "# deploy\n")
	wt := r.worktree(t)
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Setup", Email: "setup@example.com", When: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	if r.head, err = wt.Commit("initial declaration\n", &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	return r
}

// isolateGitConfig keeps the machine's global Git configuration out of the commits.
func isolateGitConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
}

func (r *testRepo) worktree(t *testing.T) *git.Worktree {
	t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return wt
}

// write writes a file of the work tree (a slash path from its root).
func (r *testRepo) write(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(r.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *testRepo) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// refs writes every reference and HEAD, to compare before and after a refusal.
func (r *testRepo) refs(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	iter, err := r.repo.Storer.IterReferences()
	if err != nil {
		t.Fatal(err)
	}
	if err := iter.ForEach(func(ref *plumbing.Reference) error {
		b.WriteString(ref.String() + "\n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("HEAD " + head.String() + "\n")
	return b.String()
}

// options promotes moodbot-v2 to production in r.
func (r *testRepo) options() Options {
	return Options{Model: "moodbot-v2", Env: "production", Repo: r.root, Path: r.dir}
}

func TestRunCommitsOnBranch(t *testing.T) {
	r := newTestRepo(t, "")
	o := r.options()
	o.Author = "Ada Lovelace <ada@example.com>"
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Branch: "promote/production/moodbot-v2", Commit: res.Commit, Model: "moodbot-v2", Env: "production",
		File: "environments/production.yaml", OldModel: "moodbot-v1", BaseBranch: "main", Remote: "origin"}
	if *res != want {
		t.Errorf("result %+v, want %+v", *res, want)
	}
	c := checkBranch(t, r, "promote/production/moodbot-v2", res.Commit)

	wantFile := strings.Replace(declaration["environments/production.yaml"], "moodbot-v1   #", "moodbot-v2   #", 1)
	if got := r.read(t, res.File); got != wantFile {
		t.Errorf("work tree file:\n%s\nwant:\n%s", got, wantFile)
	}
	f, err := c.File(res.File)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Contents(); err != nil || got != wantFile {
		t.Errorf("committed file:\n%s\nwant:\n%s (%v)", got, wantFile, err)
	}
	assertOnlyChange(t, r, c, res.File)
	if want := "promote(production): moodbot-v2\n\nPromotes model moodbot-v2 to environment production.\n"; c.Message != want {
		t.Errorf("message %q, want %q", c.Message, want)
	}
	if c.Author.Name != "Ada Lovelace" || c.Author.Email != "ada@example.com" {
		t.Errorf("author %v, want the Author option", c.Author)
	}
	if c.Committer.Name != c.Author.Name || c.Committer.Email != c.Author.Email {
		t.Errorf("committer %v, want the author %v", c.Committer, c.Author)
	}
	if c.PGPSignature != "" {
		t.Error("an unsigned promotion has a signature")
	}
}

// checkBranch asserts that branch is checked out at commit, one commit on the old
// HEAD, with main unmoved and the work tree clean; it returns the commit.
func checkBranch(t *testing.T, r *testRepo, branch, commit string) *object.Commit {
	t.Helper()
	name := plumbing.NewBranchReferenceName(branch)
	ref, err := r.repo.Reference(name, false)
	if err != nil {
		t.Fatalf("branch %s: %v", branch, err)
	}
	if ref.Hash().String() != commit {
		t.Errorf("branch at %s, want the reported commit %s", ref.Hash(), commit)
	}
	if head, err := r.repo.Storer.Reference(plumbing.HEAD); err != nil || head.Target() != name {
		t.Errorf("HEAD %v (%v), want %s checked out", head, err, branch)
	}
	if main, err := r.repo.Reference(plumbing.NewBranchReferenceName("main"), false); err != nil || main.Hash() != r.head {
		t.Errorf("main moved: %v %v", main, err)
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ParentHashes) != 1 || c.ParentHashes[0] != r.head {
		t.Errorf("parents %v, want the old HEAD %s", c.ParentHashes, r.head)
	}
	if st, err := r.worktree(t).Status(); err != nil || !st.IsClean() {
		t.Errorf("work tree not clean after promote (%v):\n%s", err, st)
	}
	return c
}

// assertOnlyChange asserts that c changes exactly file of the initial commit.
func assertOnlyChange(t *testing.T, r *testRepo, c *object.Commit, file string) {
	t.Helper()
	parent, err := r.repo.CommitObject(r.head)
	if err != nil {
		t.Fatal(err)
	}
	from, err := parent.Tree()
	if err != nil {
		t.Fatal(err)
	}
	to, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	changes, err := from.Diff(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].From.Name != file || changes[0].To.Name != file {
		t.Errorf("changes %v, want only %s modified", changes, file)
	}
}

func TestRunAuthor(t *testing.T) {
	tests := []struct {
		name      string
		option    string
		cfgName   string // user.name of the repository's configuration
		cfgEmail  string
		wantName  string
		wantEmail string
	}{
		{name: "option wins", option: " Ada Lovelace <ada@example.com> ", cfgName: "Grace Hopper", cfgEmail: "grace@example.com",
			wantName: "Ada Lovelace", wantEmail: "ada@example.com"},
		{name: "git config", cfgName: "Grace Hopper", cfgEmail: "grace@example.com", wantName: "Grace Hopper", wantEmail: "grace@example.com"},
		{name: "git config name only", cfgName: "Grace Hopper", wantName: "Grace Hopper", wantEmail: "rasa-gitops@localhost"},
		{name: "default", wantName: "rasa-gitops", wantEmail: "rasa-gitops@localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, "")
			cfg, err := r.repo.Config()
			if err != nil {
				t.Fatal(err)
			}
			cfg.User.Name, cfg.User.Email = tt.cfgName, tt.cfgEmail
			if err := r.repo.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			o := r.options()
			o.Author = tt.option
			res, err := Run(o)
			if err != nil {
				t.Fatal(err)
			}
			c := checkBranch(t, r, res.Branch, res.Commit)
			if c.Author.Name != tt.wantName || c.Author.Email != tt.wantEmail {
				t.Errorf("author %s <%s>, want %s <%s>", c.Author.Name, c.Author.Email, tt.wantName, tt.wantEmail)
			}
		})
	}
}

func TestRunInsertsModelLine(t *testing.T) {
	r := newTestRepo(t, "")
	res, err := Run(Options{Model: "moodbot-v1", Env: "worker", Repo: r.root})
	if err != nil {
		t.Fatal(err)
	}
	if res.OldModel != "" || res.Branch != "promote/worker/moodbot-v1" {
		t.Errorf("result %+v, want no old model on promote/worker/moodbot-v1", res)
	}
	c := checkBranch(t, r, res.Branch, res.Commit)
	assertOnlyChange(t, r, c, "environments/worker.yaml")
	if got, want := r.read(t, res.File), "model: moodbot-v1\n"+declaration["environments/worker.yaml"]; got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunDeclarationInSubdirectory(t *testing.T) {
	for _, tt := range []struct{ name, repo, path string }{
		{name: "path from the root", repo: ".", path: "deploy/rasa"},
		{name: "repo is the directory", repo: "deploy/rasa", path: ""},
		{name: "path from a subdirectory", repo: "deploy", path: "rasa"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, "deploy/rasa")
			res, err := Run(Options{Model: "moodbot-v2", Env: "production", Repo: filepath.Join(r.root, tt.repo), Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if res.File != "deploy/rasa/environments/production.yaml" {
				t.Errorf("file %s, want the path from the work tree root", res.File)
			}
			assertOnlyChange(t, r, checkBranch(t, r, res.Branch, res.Commit), res.File)
		})
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, r *testRepo, o *Options)
		option bool     // an *OptionError
		want   []string // substrings of the error
	}{
		{name: "unknown model", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Model = "moodbot-v9" },
			want: []string{"models.yaml", `no model "moodbot-v9"`, "(models: moodbot-v1, moodbot-v2)"}},
		{name: "environment missing", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Env = "staging" },
			want: []string{"environments/staging.yaml", `no environment "staging"`, "(environments: production, worker)"}},
		{name: "model already declared", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Model = "moodbot-v1" },
			want: []string{"environments/production.yaml: already declares model: moodbot-v1", "nothing to promote"}},
		{name: "branch exists", setup: func(t *testing.T, r *testRepo, _ *Options) {
			ref := plumbing.NewHashReference("refs/heads/promote/production/moodbot-v2", r.head)
			if err := r.repo.Storer.SetReference(ref); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"branch promote/production/moodbot-v2 already exists"}},
		{name: "wrong path", setup: func(t *testing.T, r *testRepo, o *Options) {
			r.write(t, "deploy/x", "")
			o.Path = "deploy"
		}, want: []string{"deploy/models.yaml: not found at HEAD (", "is --path the declaration directory?"}},
		{name: "environment not YAML", setup: func(t *testing.T, r *testRepo, _ *Options) {
			r.write(t, "environments/production.yaml", "model: [\n")
			commitAll(t, r)
		}, want: []string{"environments/production.yaml: not valid YAML"}},
		{name: "no environment", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Env = "" }, option: true,
			want: []string{"promote needs the environment: --to ENV"}},
		{name: "model not a label", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Model = "Moodbot" }, option: true,
			want: []string{`model "Moodbot" is not a DNS label`}},
		{name: "environment not a label", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Env = "../../etc/passwd" }, option: true,
			want: []string{"not a DNS label of at most 58 characters"}},
		{name: "environment too long", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Env = strings.Repeat("e", 59) }, option: true,
			want: []string{"not a DNS label of at most 58 characters"}},
		{name: "bad author", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Author = "just a name" }, option: true,
			want: []string{`--author "just a name": want "Name <email>"`}},
		{name: "absolute path", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Path = "/etc" }, option: true,
			want: []string{"--path /etc: must be relative to --repo"}},
		{name: "path outside", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.Path = "../elsewhere" }, option: true,
			want: []string{"--path ../elsewhere: outside the repository's work tree"}},
		{name: "not a repository", setup: func(t *testing.T, _ *testRepo, o *Options) { o.Repo = t.TempDir() }, option: true,
			want: []string{"not inside a Git repository"}},
		{name: "missing key file", setup: func(_ *testing.T, _ *testRepo, o *Options) { o.SignKeyFile = "/nonexistent/key.asc" },
			want: []string{"--sign: ", "/nonexistent/key.asc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, "")
			o := r.options()
			tt.setup(t, r, &o)
			before, file := r.refs(t), r.read(t, "environments/production.yaml")
			res, err := Run(o)
			if err == nil {
				t.Fatalf("promote succeeded: %+v", res)
			}
			var optErr *OptionError
			if errors.As(err, &optErr) != tt.option {
				t.Errorf("option error = %v, want %v: %v", !tt.option, tt.option, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after := r.refs(t); after != before {
				t.Errorf("references changed:\n%s\nwant:\n%s", after, before)
			}
			if got := r.read(t, "environments/production.yaml"); got != file {
				t.Errorf("environment file changed:\n%s", got)
			}
		})
	}
}

// commitAll commits every change of the work tree and makes it r.head.
func commitAll(t *testing.T, r *testRepo) {
	t.Helper()
	wt := r.worktree(t)
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Setup", Email: "setup@example.com", When: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC)}
	h, err := wt.Commit("change\n", &git.CommitOptions{Author: sig})
	if err != nil {
		t.Fatal(err)
	}
	r.head = h
}

func TestRunEmptyRepository(t *testing.T) {
	isolateGitConfig(t)
	root := t.TempDir()
	if _, err := git.PlainInit(root, false); err != nil {
		t.Fatal(err)
	}
	_, err := Run(Options{Model: "moodbot-v2", Env: "production", Repo: root})
	if err == nil || !strings.Contains(err.Error(), "the repository has no commit yet") {
		t.Errorf("error %v, want one saying there is no commit", err)
	}
}

func TestRunCleanWorktree(t *testing.T) {
	tests := []struct {
		name  string
		dirty func(t *testing.T, r *testRepo)
		want  string // substring of the error; "" when the promotion goes ahead
		kept  map[string]string
	}{
		{name: "staged change elsewhere", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "README.md", "changed\n")
			if _, err := r.worktree(t).Add("README.md"); err != nil {
				t.Fatal(err)
			}
		}, want: "uncommitted changes in README.md: commit or stash them first"},
		{name: "staged new file", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "new.txt", "x\n")
			if _, err := r.worktree(t).Add("new.txt"); err != nil {
				t.Fatal(err)
			}
		}, want: "uncommitted changes in new.txt"},
		{name: "environment file modified", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "environments/production.yaml", "model: moodbot-v1\n")
		}, want: "uncommitted changes in environments/production.yaml"},
		{name: "several, sorted", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "environments/production.yaml", "model: moodbot-v1\n")
			r.write(t, "README.md", "changed\n")
			if _, err := r.worktree(t).Add("README.md"); err != nil {
				t.Fatal(err)
			}
		}, want: "uncommitted changes in README.md, environments/production.yaml:"},
		{name: "other file modified, not staged", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "README.md", "work in progress\n")
		}, kept: map[string]string{"README.md": "work in progress\n"}},
		{name: "untracked file", dirty: func(t *testing.T, r *testRepo) {
			r.write(t, "notes.txt", "mine\n")
		}, kept: map[string]string{"notes.txt": "mine\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, "")
			tt.dirty(t, r)
			before := r.refs(t)
			res, err := Run(r.options())
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				if after := r.refs(t); after != before {
					t.Errorf("references changed:\n%s\nwant:\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(res.Branch), false)
			if err != nil {
				t.Fatal(err)
			}
			c, err := r.repo.CommitObject(ref.Hash())
			if err != nil {
				t.Fatal(err)
			}
			assertOnlyChange(t, r, c, res.File)
			for name, content := range tt.kept {
				if got := r.read(t, name); got != content {
					t.Errorf("%s is %q after promote, want it kept as %q", name, got, content)
				}
			}
		})
	}
}

func TestRunResultBaseAndRemote(t *testing.T) {
	tests := []struct {
		name       string
		remotes    []string
		detach     bool
		wantBase   string
		wantRemote string
	}{
		{name: "no remote", wantBase: "main", wantRemote: "origin"},
		{name: "origin among others", remotes: []string{"upstream", "origin"}, wantBase: "main", wantRemote: "origin"},
		{name: "first remote by name", remotes: []string{"upstream", "backup"}, wantBase: "main", wantRemote: "backup"},
		{name: "detached HEAD", detach: true, wantBase: "", wantRemote: "origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, "")
			for _, name := range tt.remotes {
				if _, err := r.repo.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{"https://example.com/" + name + ".git"}}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.detach {
				if err := r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, r.head)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Run(r.options())
			if err != nil {
				t.Fatal(err)
			}
			if res.BaseBranch != tt.wantBase || res.Remote != tt.wantRemote {
				t.Errorf("base %q remote %q, want %q %q", res.BaseBranch, res.Remote, tt.wantBase, tt.wantRemote)
			}
			checkBranch(t, r, res.Branch, res.Commit)
		})
	}
}
