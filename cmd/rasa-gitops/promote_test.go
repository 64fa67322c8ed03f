package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/rasa-gitops/rasa-gitops/promote"
)

// promoteRepo is a Git repository holding a copy of examples/quickstart under dir
// (relative to the work tree root), committed once.
type promoteRepo struct {
	root string
	dir  string
	repo *git.Repository
	head plumbing.Hash
}

func newPromoteRepo(t *testing.T, dir string) *promoteRepo {
	t.Helper()
	// No global Git configuration of the machine may leak into the commits.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))

	root := t.TempDir()
	repo, err := git.PlainInitWithOptions(root, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	src := "../../examples/quickstart"
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Something outside the declaration, which promote must leave alone.
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("# deploy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	sig := &object.Signature{Name: "Setup", Email: "setup@example.com", When: when}
	head, err := wt.Commit("initial declaration\n", &git.CommitOptions{Author: sig})
	if err != nil {
		t.Fatal(err)
	}
	return &promoteRepo{root: root, dir: dir, repo: repo, head: head}
}

// file is the slash path of a declaration file relative to the work tree root.
func (r *promoteRepo) file(name string) string { return path.Join(r.dir, name) }

func (r *promoteRepo) read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(r.file(name))))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// runPromoteCommand runs the promote command as the CLI would (without main.go's root
// command, which registers it separately).
func runPromoteCommand(t *testing.T, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newPromoteCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.ExecuteContext(context.Background())
	return err, out.String(), errOut.String()
}

func TestPromoteCommits(t *testing.T) {
	tests := []struct {
		name    string
		dir     string // where the declaration lives in the repository
		repoArg string // --repo, relative to the work tree root
		args    []string
		env     string
		model   string
		want    func(old string) string // the new environments/ENV.yaml
		author  string
	}{
		{
			name:  "replaces the model line",
			args:  []string{"moodbot-v2", "--to", "production"},
			env:   "production",
			model: "moodbot-v2",
			want: func(old string) string {
				return strings.Replace(old, "\nmodel: moodbot-v1\n", "\nmodel: moodbot-v2\n", 1)
			},
			author: "rasa-gitops <rasa-gitops@localhost>",
		},
		{
			name:  "adds a model line to a worker",
			args:  []string{"moodbot-v1", "--to", "worker", "--author", "Ada Lovelace <ada@example.com>"},
			env:   "worker",
			model: "moodbot-v1",
			want:  func(old string) string { return "model: moodbot-v1\n" + old },
			// --author wins over everything else.
			author: "Ada Lovelace <ada@example.com>",
		},
		{
			name:    "declaration in a subdirectory with --path",
			dir:     "deploy/rasa",
			repoArg: ".",
			args:    []string{"moodbot-v1", "--to", "experimental", "--path", "deploy/rasa"},
			env:     "experimental",
			model:   "moodbot-v1",
			want: func(old string) string {
				return strings.Replace(old, "model: moodbot-v2\n", "model: moodbot-v1\n", 1)
			},
			author: "rasa-gitops <rasa-gitops@localhost>",
		},
		{
			name:    "--repo inside the work tree",
			dir:     "deploy",
			repoArg: "deploy",
			args:    []string{"moodbot-v2", "--to", "production"},
			env:     "production",
			model:   "moodbot-v2",
			want: func(old string) string {
				return strings.Replace(old, "\nmodel: moodbot-v1\n", "\nmodel: moodbot-v2\n", 1)
			},
			author: "rasa-gitops <rasa-gitops@localhost>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPromoteRepo(t, tt.dir)
			envFile := "environments/" + tt.env + ".yaml"
			old := r.read(t, envFile)
			repoArg := filepath.Join(r.root, tt.repoArg)

			err, out, errOut := runPromoteCommand(t, append(tt.args, "--repo", repoArg)...)
			if err != nil {
				t.Fatalf("promote: %v\n%s%s", err, out, errOut)
			}
			branch := plumbing.NewBranchReferenceName("promote/" + tt.env + "/" + tt.model)
			c := checkPromoted(t, r, branch, out)

			want := tt.want(string(old))
			if want == string(old) {
				t.Fatal("test case expects no change")
			}
			if got := r.read(t, envFile); !bytes.Equal(got, []byte(want)) {
				t.Errorf("work tree %s:\n%s\nwant:\n%s", envFile, got, want)
			}
			f, err := c.File(r.file(envFile))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f.Contents(); err != nil || got != want {
				t.Errorf("committed %s:\n%s\nwant:\n%s (%v)", envFile, got, want, err)
			}
			assertOnlyChange(t, r, c, r.file(envFile))

			wantMsg := "promote(" + tt.env + "): " + tt.model + "\n\nPromotes model " + tt.model + " to environment " + tt.env + ".\n"
			if c.Message != wantMsg {
				t.Errorf("message %q, want %q", c.Message, wantMsg)
			}
			if got := c.Author.Name + " <" + c.Author.Email + ">"; got != tt.author {
				t.Errorf("author %q, want %q", got, tt.author)
			}
			if c.Committer.Name != c.Author.Name || c.Committer.Email != c.Author.Email {
				t.Errorf("committer %v, want the author %v", c.Committer, c.Author)
			}
			if c.PGPSignature != "" {
				t.Error("unsigned promotion has a signature")
			}
			if !strings.Contains(out, "git push origin "+branch.Short()) || !strings.Contains(out, "pull request into main") {
				t.Errorf("no push hint in the output:\n%s", out)
			}
		})
	}
}

// checkPromoted asserts that branch is checked out, holds one new commit on the old
// HEAD, that the output names both, and that the work tree is clean; it returns the
// commit.
func checkPromoted(t *testing.T, r *promoteRepo, branch plumbing.ReferenceName, out string) *object.Commit {
	t.Helper()
	ref, err := r.repo.Reference(branch, false)
	if err != nil {
		t.Fatalf("branch %s: %v", branch.Short(), err)
	}
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	if head.Type() != plumbing.SymbolicReference || head.Target() != branch {
		t.Errorf("HEAD is %v, want %s checked out", head, branch)
	}
	main, err := r.repo.Reference(plumbing.NewBranchReferenceName("main"), false)
	if err != nil || main.Hash() != r.head {
		t.Errorf("main moved: %v %v", main, err)
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ParentHashes) != 1 || c.ParentHashes[0] != r.head {
		t.Errorf("parents %v, want the old HEAD %s", c.ParentHashes, r.head)
	}
	for _, s := range []string{branch.Short(), ref.Hash().String()} {
		if !strings.Contains(out, s) {
			t.Errorf("output does not name %s:\n%s", s, out)
		}
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsClean() {
		t.Errorf("work tree not clean after promote:\n%s", st)
	}
	return c
}

// assertOnlyChange asserts that c changes exactly one file of its parent.
func assertOnlyChange(t *testing.T, r *promoteRepo, c *object.Commit, file string) {
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

func TestPromoteAuthorFromGitConfig(t *testing.T) {
	r := newPromoteRepo(t, "")
	cfg, err := r.repo.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.User.Name = "Grace Hopper"
	cfg.User.Email = "grace@example.com"
	if err := r.repo.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	err, out, _ := runPromoteCommand(t, "moodbot-v2", "--to", "production", "--repo", r.root)
	if err != nil {
		t.Fatal(err)
	}
	c := checkPromoted(t, r, "refs/heads/promote/production/moodbot-v2", out)
	if c.Author.Name != "Grace Hopper" || c.Author.Email != "grace@example.com" {
		t.Errorf("author %v, want the repository's user.name and user.email", c.Author)
	}
}

func TestPromoteErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, r *promoteRepo)
		args  []string
		usage bool     // a usageError (exit 64)
		want  []string // substrings of the error
	}{
		{name: "unknown model", args: []string{"moodbot-v9", "--to", "production"},
			want: []string{"models.yaml", `no model "moodbot-v9"`, "moodbot-v1, moodbot-v2"}},
		{name: "unknown environment", args: []string{"moodbot-v2", "--to", "staging"},
			want: []string{"environments/staging.yaml", `no environment "staging"`, "experimental, production, worker"}},
		{name: "existing branch", args: []string{"moodbot-v2", "--to", "production"},
			setup: func(t *testing.T, r *promoteRepo) {
				ref := plumbing.NewHashReference("refs/heads/promote/production/moodbot-v2", r.head)
				if err := r.repo.Storer.SetReference(ref); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"branch promote/production/moodbot-v2 already exists"}},
		{name: "model already declared", args: []string{"moodbot-v1", "--to", "production"},
			want: []string{"environments/production.yaml", "already declares model: moodbot-v1"}},
		{name: "environment file modified", args: []string{"moodbot-v2", "--to", "production"},
			setup: func(t *testing.T, r *promoteRepo) {
				p := filepath.Join(r.root, "environments", "production.yaml")
				if err := os.WriteFile(p, []byte("model: moodbot-v1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"uncommitted changes in environments/production.yaml"}},
		{name: "staged change", args: []string{"moodbot-v2", "--to", "production"},
			setup: func(t *testing.T, r *promoteRepo) {
				if err := os.WriteFile(filepath.Join(r.root, "README.md"), []byte("changed\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				wt, err := r.repo.Worktree()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := wt.Add("README.md"); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"uncommitted changes in README.md"}},
		{name: "wrong --path", args: []string{"moodbot-v2", "--to", "production", "--path", "deploy"},
			want: []string{"deploy/models.yaml", "not found"}},
		{name: "no --to", args: []string{"moodbot-v2"}, usage: true, want: []string{"--to ENV"}},
		{name: "environment not a label", args: []string{"moodbot-v2", "--to", "../../etc/passwd"}, usage: true,
			want: []string{"not a DNS label"}},
		{name: "model not a label", args: []string{"Moodbot", "--to", "production"}, usage: true,
			want: []string{"not a DNS label"}},
		{name: "no model argument", args: []string{"--to", "production"}, usage: true,
			want: []string{"takes 1 argument(s), got 0"}},
		{name: "bad --author", args: []string{"moodbot-v2", "--to", "production", "--author", "just a name"}, usage: true,
			want: []string{`want "Name <email>"`}},
		{name: "--path outside", args: []string{"moodbot-v2", "--to", "production", "--path", "../elsewhere"}, usage: true,
			want: []string{"outside the repository"}},
		{name: "missing key file", args: []string{"moodbot-v2", "--to", "production", "--sign", "/nonexistent/key.asc"},
			want: []string{"--sign", "/nonexistent/key.asc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPromoteRepo(t, "")
			if tt.setup != nil {
				tt.setup(t, r)
			}
			before := promoteRefs(t, r)
			err, out, _ := runPromoteCommand(t, append(tt.args, "--repo", r.root)...)
			if err == nil {
				t.Fatalf("promote succeeded:\n%s", out)
			}
			var usage usageError
			if errors.As(err, &usage) != tt.usage {
				t.Errorf("usage error = %v, want %v: %v", !tt.usage, tt.usage, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after := promoteRefs(t, r); after != before {
				t.Errorf("references changed:\n%s\nwant:\n%s", after, before)
			}
		})
	}
}

func TestPromoteNotARepository(t *testing.T) {
	err, _, _ := runPromoteCommand(t, "moodbot-v2", "--to", "production", "--repo", t.TempDir())
	var usage usageError
	if err == nil || !errors.As(err, &usage) || !strings.Contains(err.Error(), "not inside a Git repository") {
		t.Errorf("error %v, want a usage error saying it is not a repository", err)
	}
}

// promoteRefs writes every reference and HEAD, to see that a failed promote changed none.
func promoteRefs(t *testing.T, r *promoteRepo) string {
	t.Helper()
	var b strings.Builder
	refs, err := r.repo.Storer.IterReferences()
	if err != nil {
		t.Fatal(err)
	}
	if err := refs.ForEach(func(ref *plumbing.Reference) error {
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

// promoteKey makes an OpenPGP key pair, returning the armored public key and the path
// of the armored private key (encrypted with passphrase when it is not empty).
func promoteKey(t *testing.T, passphrase string) (public, keyFile string) {
	t.Helper()
	e, err := openpgp.NewEntity("Release Manager", "", "release@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(keyFile, priv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub.String(), keyFile
}

func TestPromoteSigned(t *testing.T) {
	public, keyFile := promoteKey(t, "")
	r := newPromoteRepo(t, "")
	err, out, _ := runPromoteCommand(t, "moodbot-v2", "--to", "production", "--repo", r.root, "--sign", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := checkPromoted(t, r, "refs/heads/promote/production/moodbot-v2", out)
	if c.PGPSignature == "" {
		t.Fatal("commit is not signed")
	}
	e, err := c.Verify(public)
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if _, ok := e.Identities["Release Manager <release@example.com>"]; !ok {
		t.Errorf("verified by %v", e.Identities)
	}
	other, _ := promoteKey(t, "")
	if _, err := c.Verify(other); err == nil {
		t.Error("signature verifies with an unrelated key")
	}
}

func TestPromoteSignedEncryptedKey(t *testing.T) {
	public, keyFile := promoteKey(t, "s3cret")
	r := newPromoteRepo(t, "")
	err, _, _ := runPromoteCommand(t, "moodbot-v2", "--to", "production", "--repo", r.root, "--sign", keyFile)
	if err == nil || !strings.Contains(err.Error(), "--sign-passphrase-file") {
		t.Fatalf("error %v, want one asking for the passphrase", err)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err, out, _ := runPromoteCommand(t, "moodbot-v2", "--to", "production", "--repo", r.root, "--sign", keyFile, "--sign-passphrase-file", pass)
	if err != nil {
		t.Fatal(err)
	}
	c := checkPromoted(t, r, "refs/heads/promote/production/moodbot-v2", out)
	if _, err := c.Verify(public); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

// TestPromoteThroughCLI runs promote through run(), as the root command registers it.
func TestPromoteThroughCLI(t *testing.T) {
	if c, _, err := newRootCommand().Find([]string{"promote"}); err != nil || c.Name() != "promote" {
		t.Fatalf("promote is not registered in the root command: %v", err)
	}
	r := newPromoteRepo(t, "")
	code, out, errOut := runCLI(t, "promote", "moodbot-v2", "--to", "production", "--repo", r.root)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	checkPromoted(t, r, "refs/heads/promote/production/moodbot-v2", out)
	if code, _, errOut := runCLI(t, "promote", "moodbot-v2", "--to", "production", "--repo", r.root); code != exitError || !strings.Contains(errOut, "already exists") {
		t.Errorf("existing branch: exit %d, want %d\n%s", code, exitError, errOut)
	}
	if code, _, errOut := runCLI(t, "promote", "moodbot-v2", "--repo", r.root); code != exitUsage {
		t.Errorf("no --to: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
}

// TestPromotePrintsResult pins the report of a promotion; the edit itself is tested
// in package promote.
func TestPromotePrintsResult(t *testing.T) {
	var b bytes.Buffer
	printPromotion(&b, &promote.Result{Branch: "promote/worker/moodbot-v1", Commit: "0123abcd", Model: "moodbot-v1", Env: "worker",
		File: "deploy/environments/worker.yaml", Signer: "ABCDEF0123", BaseBranch: "main", Remote: "upstream"})
	want := `branch:  promote/worker/moodbot-v1 (checked out)
commit:  0123abcd promote(worker): moodbot-v1 (signed by key ABCDEF0123)
changed: deploy/environments/worker.yaml: model no model -> moodbot-v1

Next: git push upstream promote/worker/moodbot-v1
      then open a pull request into main; merging it deploys moodbot-v1 to worker.
`
	if b.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printPromotion(&b, &promote.Result{Branch: "promote/p/m2", Commit: "ff", Model: "m2", Env: "p", File: "environments/p.yaml", OldModel: "m1", Remote: "origin"})
	for _, w := range []string{"commit:  ff promote(p): m2\n", "model m1 -> m2\n", "then open a pull request; merging"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("output does not contain %q:\n%s", w, b.String())
		}
	}
}
