package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// promoteFlags are the options of `rasa-gitops promote`.
type promoteFlags struct {
	to             string
	repo           string
	path           string
	sign           string
	passphraseFile string
	author         string
}

// defaultPromoteAuthor is the author of a promotion commit when neither --author nor
// the Git configuration names one.
var defaultPromoteAuthor = object.Signature{Name: "rasa-gitops", Email: "rasa-gitops@localhost"}

// promoteLabel is what an environment or model name must be (a DNS label); it also
// keeps ENV from naming a path outside environments/.
var promoteLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// promoteAuthorRE is Git's "Name <email>".
var promoteAuthorRE = regexp.MustCompile(`^\s*([^<>\n]*[^<>\s])\s*<([^<>\s]+)>\s*$`)

// maxPromoteFile bounds what promote reads from the repository (the declaration limit).
const maxPromoteFile = 1 << 20

func newPromoteCommand() *cobra.Command {
	var f promoteFlags
	cmd := &cobra.Command{
		Use:   "promote MODEL --to ENV",
		Short: "Commit a promotion of MODEL to ENV on a new branch, ready for a pull request",
		Long: `promote changes the model: line of environments/ENV.yaml to MODEL and commits that
one change on a new branch promote/ENV/MODEL, started from HEAD and checked out. Every
other line of the file is kept byte for byte. Push the branch and open a pull request:
merging it is the deployment.

MODEL must be a key of models.yaml and ENV must have environments/ENV.yaml, both as
committed at HEAD. No git binary is needed.`,
		Example: `  rasa-gitops promote moodbot-v2 --to production
  rasa-gitops promote moodbot-v2 --to production --repo ~/src/rasa-deploy --path deploy --sign key.asc`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPromote(cmd.OutOrStdout(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.to, "to", "", "the environment to promote to (required): environments/ENV.yaml")
	cmd.Flags().StringVar(&f.repo, "repo", ".", "the Git repository (a directory inside its work tree)")
	cmd.Flags().StringVar(&f.path, "path", ".", "the declaration directory, relative to --repo")
	cmd.Flags().StringVar(&f.sign, "sign", "", "sign the commit with this armored OpenPGP private key")
	cmd.Flags().StringVar(&f.passphraseFile, "sign-passphrase-file", "", "file holding the passphrase of the --sign key, if it is encrypted")
	cmd.Flags().StringVar(&f.author, "author", "", `commit author "Name <email>" (default: user.name and user.email of the Git configuration, else "rasa-gitops <rasa-gitops@localhost>")`)
	return cmd
}

// promotion is everything checked before the repository is changed.
type promotion struct {
	model, env string
	repo       *git.Repository
	wt         *git.Worktree
	head       *plumbing.Reference // HEAD as it was (symbolic to a branch, or detached)
	base       *object.Commit
	branch     plumbing.ReferenceName
	envFile    string // slash path relative to the work tree root
	oldModel   string // "" when the file declared none
	oldContent []byte
	newContent []byte
	author     object.Signature
	signKey    *openpgp.Entity
}

func runPromote(out io.Writer, model string, f promoteFlags) error {
	p, err := preparePromotion(model, f)
	if err != nil {
		return err
	}
	hash, err := p.commit()
	if err != nil {
		return err
	}

	was := "no model"
	if p.oldModel != "" {
		was = p.oldModel
	}
	signed := ""
	if p.signKey != nil {
		signed = fmt.Sprintf(" (signed by key %X)", p.signKey.PrimaryKey.Fingerprint)
	}
	fmt.Fprintf(out, "branch:  %s (checked out)\n", p.branch.Short())
	fmt.Fprintf(out, "commit:  %s promote(%s): %s%s\n", hash, p.env, p.model, signed)
	fmt.Fprintf(out, "changed: %s: model %s -> %s\n", p.envFile, was, p.model)
	into := ""
	if p.head.Type() == plumbing.SymbolicReference && p.head.Target().IsBranch() {
		into = " into " + p.head.Target().Short()
	}
	fmt.Fprintf(out, "\nNext: git push %s %s\n      then open a pull request%s; merging it deploys %s to %s.\n",
		promoteRemote(p.repo), p.branch.Short(), into, p.model, p.env)
	return nil
}

// preparePromotion checks the arguments and the repository and computes the new file,
// changing nothing.
func preparePromotion(model string, f promoteFlags) (*promotion, error) {
	p := &promotion{model: model, env: f.to}
	switch {
	case f.to == "":
		return nil, usageError{errors.New(`promote needs the environment: --to ENV`)}
	case !promoteLabel.MatchString(model):
		return nil, usageError{fmt.Errorf("model %q is not a DNS label (lowercase letters, digits and '-', at most 63)", model)}
	case !promoteLabel.MatchString(f.to) || len(f.to) > 58:
		return nil, usageError{fmt.Errorf("environment %q is not a DNS label of at most 58 characters", f.to)}
	}
	p.branch = plumbing.NewBranchReferenceName("promote/" + p.env + "/" + p.model)

	author, err := promoteAuthor(f.author)
	if err != nil {
		return nil, err
	}
	if f.sign != "" {
		if p.signKey, err = promoteSignKey(f.sign, f.passphraseFile); err != nil {
			return nil, err
		}
	}

	if p.repo, err = git.PlainOpenWithOptions(f.repo, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true}); err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, usageError{fmt.Errorf("--repo %s: not inside a Git repository", f.repo)}
		}
		return nil, fmt.Errorf("open repository %s: %w", f.repo, err)
	}
	if p.wt, err = p.repo.Worktree(); err != nil {
		return nil, fmt.Errorf("repository %s: %w (promote needs a work tree to check the branch out)", f.repo, err)
	}
	dir, err := promoteDir(p.wt.Filesystem.Root(), f.repo, f.path)
	if err != nil {
		return nil, err
	}
	p.envFile = path.Join(dir, "environments", p.env+".yaml")
	modelsFile := path.Join(dir, "models.yaml")

	if p.head, err = p.repo.Storer.Reference(plumbing.HEAD); err != nil {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	headRef, err := p.repo.Head()
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, errors.New("the repository has no commit yet: commit the declaration first")
		}
		return nil, fmt.Errorf("resolve HEAD: %w", err)
	}
	if p.base, err = p.repo.CommitObject(headRef.Hash()); err != nil {
		return nil, fmt.Errorf("read HEAD commit %s: %w", headRef.Hash(), err)
	}
	at := "HEAD (" + headRef.Hash().String()[:12] + ")"
	if _, err := p.repo.Storer.Reference(p.branch); err == nil {
		return nil, fmt.Errorf("branch %s already exists: delete it or push and open its pull request", p.branch.Short())
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("read branch %s: %w", p.branch.Short(), err)
	}

	// The model must be in the catalogue and the environment must exist, at HEAD.
	models, err := promoteReadFile(p.base, modelsFile)
	if err != nil {
		if errors.Is(err, object.ErrFileNotFound) {
			return nil, fmt.Errorf("%s: not found at %s; is --path the declaration directory?", modelsFile, at)
		}
		return nil, err
	}
	names, err := promoteCatalogue(models)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelsFile, err)
	}
	if !slices.Contains(names, p.model) {
		return nil, fmt.Errorf("%s: no model %q at %s (models: %s)", modelsFile, p.model, at, promoteList(names))
	}
	if p.oldContent, err = promoteReadFile(p.base, p.envFile); err != nil {
		if errors.Is(err, object.ErrFileNotFound) {
			return nil, fmt.Errorf("%s: no environment %q at %s (environments: %s)", p.envFile, p.env, at, promoteList(promoteEnvironments(p.base, path.Join(dir, "environments"))))
		}
		return nil, err
	}
	if p.newContent, p.oldModel, err = setModelLine(p.oldContent, p.model); err != nil {
		return nil, fmt.Errorf("%s: %w", p.envFile, err)
	}
	if p.oldModel == p.model {
		return nil, fmt.Errorf("%s: already declares model: %s at %s; nothing to promote", p.envFile, p.model, at)
	}

	if err := p.checkClean(); err != nil {
		return nil, err
	}

	if author != nil {
		p.author = *author
	} else {
		p.author = promoteConfigAuthor(p.repo)
	}
	return p, nil
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

func (p *promotion) commitOnBranch() (plumbing.Hash, error) {
	fs := p.wt.Filesystem
	if err := util.WriteFile(fs, p.envFile, p.newContent, 0o644); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s: %w", p.envFile, err)
	}
	if _, err := p.wt.Add(p.envFile); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", p.envFile, err)
	}
	sig := p.author
	sig.When = time.Now()
	msg := fmt.Sprintf("promote(%s): %s\n\nPromotes model %s to environment %s.\n", p.env, p.model, p.model, p.env)
	hash, err := p.wt.Commit(msg, &git.CommitOptions{
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

// declarationDir is the declaration directory as a slash path relative to the work
// tree root: --path taken relative to --repo, which may be a subdirectory.
func promoteDir(root, repo, rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", usageError{fmt.Errorf("--path %s: must be relative to --repo", rel)}
	}
	root, err := promoteRealPath(root)
	if err != nil {
		return "", err
	}
	repoDir, err := promoteRealPath(repo)
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(root, filepath.Join(repoDir, rel))
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", usageError{fmt.Errorf("--path %s: outside the repository's work tree %s", rel, root)}
	}
	return filepath.ToSlash(r), nil
}

func promoteRealPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	return abs, nil
}

// readCommitted reads a regular file of the commit's tree.
func promoteReadFile(c *object.Commit, name string) ([]byte, error) {
	file, err := c.File(name)
	if err != nil {
		return nil, err
	}
	if !file.Mode.IsFile() || file.Mode == filemode.Symlink {
		return nil, fmt.Errorf("%s: not a regular file at HEAD (mode %s)", name, file.Mode)
	}
	if file.Size > maxPromoteFile {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d", name, file.Size, maxPromoteFile)
	}
	r, err := file.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// catalogueModels lists the keys of models.yaml's models: mapping, sorted.
func promoteCatalogue(data []byte) ([]string, error) {
	var doc struct {
		Models map[string]yaml.Node `yaml:"models"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot read the model catalogue: %w", err)
	}
	names := make([]string, 0, len(doc.Models))
	for name := range doc.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// committedEnvironments lists the environments of the commit's environments directory.
func promoteEnvironments(c *object.Commit, dir string) []string {
	tree, err := c.Tree()
	if err != nil {
		return nil
	}
	if dir != "." {
		if tree, err = tree.Tree(dir); err != nil {
			return nil
		}
	}
	var envs []string
	for _, e := range tree.Entries {
		if name, ok := strings.CutSuffix(e.Name, ".yaml"); ok && e.Mode.IsFile() {
			envs = append(envs, name)
		}
	}
	sort.Strings(envs)
	return envs
}

func promoteList(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// promoteAuthorFlag parses --author "Name <email>"; nil when the flag is empty.
func promoteAuthor(s string) (*object.Signature, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := promoteAuthorRE.FindStringSubmatch(s)
	if m == nil {
		return nil, usageError{fmt.Errorf(`--author %q: want "Name <email>"`, s)}
	}
	return &object.Signature{Name: m[1], Email: m[2]}, nil
}

// configAuthor is user.name and user.email of the repository's Git configuration
// (local, then global, then system), each falling back to defaultPromoteAuthor.
func promoteConfigAuthor(r *git.Repository) object.Signature {
	sig := defaultPromoteAuthor
	cfg, err := r.ConfigScoped(config.SystemScope)
	if err != nil {
		if cfg, err = r.Config(); err != nil {
			return sig
		}
	}
	if cfg.User.Name != "" {
		sig.Name = cfg.User.Name
	}
	if cfg.User.Email != "" {
		sig.Email = cfg.User.Email
	}
	return sig
}

// loadSignKey reads an OpenPGP private key (armored, or binary) able to sign,
// decrypting it with the passphrase file when it is encrypted.
func promoteSignKey(file, passphraseFile string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--sign: %w", err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		if bin, berr := openpgp.ReadKeyRing(bytes.NewReader(data)); berr == nil {
			keys, err = bin, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--sign %s: not an OpenPGP key: %w", file, err)
	}
	var entity *openpgp.Entity
	for _, e := range keys {
		if e.PrivateKey != nil {
			entity = e
			break
		}
	}
	if entity == nil {
		return nil, fmt.Errorf("--sign %s: holds no private key (export it with gpg --armor --export-secret-keys)", file)
	}
	encrypted := entity.PrivateKey.Encrypted
	for _, sk := range entity.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			encrypted = true
		}
	}
	if encrypted {
		if passphraseFile == "" {
			return nil, fmt.Errorf("--sign %s: the key is encrypted; give its passphrase with --sign-passphrase-file", file)
		}
		pass, err := os.ReadFile(passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("--sign-passphrase-file: %w", err)
		}
		if err := entity.DecryptPrivateKeys(bytes.TrimRight(pass, "\r\n")); err != nil {
			return nil, fmt.Errorf("--sign %s: cannot decrypt the key: %w", file, err)
		}
	}
	key, ok := entity.SigningKey(time.Now())
	if !ok || key.PrivateKey == nil {
		return nil, fmt.Errorf("--sign %s: the key has no valid signing key (expired or revoked?)", file)
	}
	return entity, nil
}

// pushRemote names the remote the hint pushes to: origin, else the only or first one.
func promoteRemote(r *git.Repository) string {
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

// setModelLine returns data with the top-level model: value set to model, every other
// byte unchanged, and the model declared before ("" for none). A file without model:
// gets "model: NAME" as its first line (after a --- document start, if any).
func setModelLine(data []byte, model string) (out []byte, old string, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, "", fmt.Errorf("not valid YAML: %w", err)
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	var key, val *yaml.Node
	switch {
	case root == nil || root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		root = nil
	case root.Kind != yaml.MappingNode:
		return nil, "", errors.New("not a mapping of keys (model:, publish:, …)")
	default:
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Kind == yaml.ScalarNode && root.Content[i].Value == "model" {
				key, val = root.Content[i], root.Content[i+1]
			}
		}
	}

	if key == nil {
		if root != nil && root.Style&yaml.FlowStyle != 0 {
			return nil, "", errors.New("a flow-style mapping ({…}) without model:; add the line by hand")
		}
		out = insertModelLine(data, root, model)
	} else {
		if out, old, err = replaceModelValue(data, key, val, model); err != nil {
			return nil, "", err
		}
	}

	// The edit must have done exactly what it says.
	var check struct {
		Model string `yaml:"model"`
	}
	if err := yaml.Unmarshal(out, &check); err != nil || check.Model != model {
		return nil, "", fmt.Errorf("could not set model: %s in this file; edit it by hand", model)
	}
	return out, old, nil
}

// insertModelLine puts "model: NAME" on the first line, or after the --- that starts
// the document, using the file's line ending.
func insertModelLine(data []byte, root *yaml.Node, model string) []byte {
	eol := "\n"
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		eol = "\r\n"
	}
	at := 0
	limit := -1 // lines before the first key, 1-based; -1: the whole file
	if root != nil {
		limit = root.Line - 1
	}
	for line, off := 1, 0; off < len(data) && (limit < 0 || line <= limit); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		text := strings.TrimRight(string(data[off:next]), "\r\n")
		if text == "---" || strings.HasPrefix(text, "--- ") || strings.HasPrefix(text, "---\t") {
			at = next
			if end < 0 { // "---" without a newline at the end of the file
				data = append(data[:len(data):len(data)], eol...)
				at = len(data)
			}
		}
		off = next
	}
	out := make([]byte, 0, len(data)+len(model)+8)
	out = append(out, data[:at]...)
	out = append(out, "model: "+model+eol...)
	return append(out, data[at:]...)
}

// replaceModelValue swaps the value of the model: key for model, keeping the quoting
// style and, when it can, the column of a trailing comment.
func replaceModelValue(data []byte, key, val *yaml.Node, model string) ([]byte, string, error) {
	if val.Kind != yaml.ScalarNode {
		return nil, "", errors.New("model: is not a plain name (an alias, list or mapping); edit it by hand")
	}
	if val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil, "", errors.New("model: is a block scalar (| or >); write it as model: NAME")
	}

	old := val.Value
	if val.Tag == "!!null" && (val.Value == "" || val.Value == "~" || strings.EqualFold(val.Value, "null")) {
		old = ""
	}
	if val.Value == "" && val.Style == 0 {
		// An empty value: yaml.v3 puts it after the key; insert right after the colon.
		kstart, err := yamlNodeOffset(data, key)
		if err != nil {
			return nil, "", err
		}
		kend, err := yamlScalarEnd(data, kstart, key)
		if err != nil {
			return nil, "", err
		}
		colon := kend
		for colon < len(data) && (data[colon] == ' ' || data[colon] == '\t') {
			colon++
		}
		if colon >= len(data) || data[colon] != ':' {
			return nil, "", errors.New("cannot find the colon after model; edit it by hand")
		}
		out := make([]byte, 0, len(data)+len(model)+1)
		out = append(out, data[:colon+1]...)
		out = append(out, ' ')
		out = append(out, model...)
		return append(out, data[colon+1:]...), old, nil
	}

	start, err := yamlNodeOffset(data, val)
	if err != nil {
		return nil, "", err
	}
	end, err := yamlScalarEnd(data, start, val)
	if err != nil {
		return nil, "", err
	}
	replacement := model
	switch {
	case val.Style&yaml.DoubleQuotedStyle != 0:
		replacement = `"` + model + `"`
	case val.Style&yaml.SingleQuotedStyle != 0:
		replacement = `'` + model + `'`
	}

	// Keep a trailing comment in its column when the padding allows it.
	rest := data[end:]
	pad := 0
	for pad < len(rest) && rest[pad] == ' ' {
		pad++
	}
	if pad > 0 && pad < len(rest) && rest[pad] == '#' {
		newPad := pad + (end - start) - len(replacement)
		if newPad < 1 {
			newPad = 1
		}
		replacement += strings.Repeat(" ", newPad)
		end += pad
	}

	out := make([]byte, 0, len(data)+len(replacement))
	out = append(out, data[:start]...)
	out = append(out, replacement...)
	return append(out, data[end:]...), old, nil
}

// nodeOffset turns a node's line and column (1-based, in characters) into a byte offset.
func yamlNodeOffset(data []byte, n *yaml.Node) (int, error) {
	off := 0
	for line := 1; line < n.Line; line++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return 0, errors.New("cannot locate model: in the file; edit it by hand")
		}
		off += i + 1
	}
	for col := 1; col < n.Column; col++ {
		if off >= len(data) || data[off] == '\n' {
			return 0, errors.New("cannot locate model: in the file; edit it by hand")
		}
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off, nil
}

// scalarEnd is the byte offset just after the scalar that starts at off, which must
// sit on one line.
func yamlScalarEnd(data []byte, off int, n *yaml.Node) (int, error) {
	multi := errors.New("model: spans several lines; write it as model: NAME")
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if off >= len(data) || data[off] != '"' {
			break
		}
		for i := off + 1; i < len(data); i++ {
			switch data[i] {
			case '\\':
				i++
			case '\n':
				return 0, multi
			case '"':
				return i + 1, nil
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if off >= len(data) || data[off] != '\'' {
			break
		}
		for i := off + 1; i < len(data); i++ {
			switch {
			case data[i] == '\n':
				return 0, multi
			case data[i] == '\'' && i+1 < len(data) && data[i+1] == '\'':
				i++
			case data[i] == '\'':
				return i + 1, nil
			}
		}
	default:
		end := off + len(n.Value)
		if end <= len(data) && string(data[off:end]) == n.Value {
			return end, nil
		}
		if bytes.IndexByte(data[off:min(end, len(data))], '\n') >= 0 {
			return 0, multi
		}
	}
	return 0, errors.New("cannot locate model: in the file; edit it by hand")
}
