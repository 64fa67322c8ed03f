package promote

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Options is one promotion as the caller asks for it. Its one caller is the
// `rasa-gitops promote` command, so errors name the options by that command's flags
// (--to, --repo, --path, --sign, --sign-passphrase-file, --author).
type Options struct {
	// Model is the model to promote: a DNS label and a key of models.yaml at HEAD.
	Model string
	// Env is the environment to promote to: a DNS label of at most 58 characters
	// (the branch and container names are built from it) with environments/Env.yaml
	// at HEAD.
	Env string
	// Repo is a directory inside the repository's work tree; "" is the current one.
	Repo string
	// Path is the declaration directory relative to Repo; "" is Repo itself.
	Path string
	// SignKeyFile, when set, is an OpenPGP private key (armored or binary) the commit
	// is signed with, so that a daemon verifying signatures accepts the merge.
	SignKeyFile string
	// PassphraseFile holds the passphrase of SignKeyFile when that key is encrypted.
	PassphraseFile string
	// Author is the commit author as "Name <email>"; when empty, user.name and
	// user.email of the Git configuration are used, else rasa-gitops <rasa-gitops@localhost>.
	Author string
}

// Result is what a promotion did: enough for the caller to report it and to tell the
// user how to push the branch and open its pull request.
type Result struct {
	// Branch is the new branch, now checked out: promote/ENV/MODEL.
	Branch string
	// Commit is the hash of the promotion commit.
	Commit string
	// Model and Env are the promotion, as in Options.
	Model, Env string
	// File is the environment file changed, a slash path relative to the work tree root.
	File string
	// OldModel is the model the file declared before, "" when it declared none.
	OldModel string
	// Signer is the fingerprint (upper-case hex) of the key that signed the commit, ""
	// when unsigned.
	Signer string
	// BaseBranch is the branch HEAD was on, which the pull request goes into; "" when
	// HEAD was detached.
	BaseBranch string
	// Remote is the remote to push the branch to: origin, else the first by name.
	Remote string
}

// OptionError is an error in the options themselves — a name that is not a DNS label,
// a malformed author, a path outside the work tree, a directory outside any
// repository — rather than in the repository's state, so that a CLI can report it as
// a usage error.
type OptionError struct{ Err error }

// Error is the underlying error's message, unchanged.
func (e *OptionError) Error() string { return e.Err.Error() }

// Unwrap gives the underlying error to errors.Is and errors.As.
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(format string, args ...any) error {
	return &OptionError{fmt.Errorf(format, args...)}
}

// label is what an environment or model name must be (a DNS label); it also keeps Env
// from naming a path outside environments/.
var label = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// maxFile bounds what promote reads from the repository (the declaration limit).
const maxFile = 1 << 20

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

// Run checks the options and the repository, then commits the promotion on a new
// branch and checks it out. When it returns an error the repository is as it was.
func Run(o Options) (*Result, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	hash, err := p.commit()
	if err != nil {
		return nil, err
	}
	return p.result(hash), nil
}

// prepare checks the options and the repository and computes the new file, changing
// nothing. The checks run in the order that gives the most useful first error.
func prepare(o Options) (*promotion, error) {
	if err := checkNames(o.Model, o.Env); err != nil {
		return nil, err
	}
	p := &promotion{model: o.Model, env: o.Env, branch: plumbing.NewBranchReferenceName("promote/" + o.Env + "/" + o.Model)}
	author, err := parseAuthor(o.Author)
	if err != nil {
		return nil, err
	}
	if o.SignKeyFile != "" {
		if p.signKey, err = loadSignKey(o.SignKeyFile, o.PassphraseFile); err != nil {
			return nil, err
		}
	}
	dir, err := p.open(o.Repo, o.Path)
	if err != nil {
		return nil, err
	}
	at, err := p.readHead()
	if err != nil {
		return nil, err
	}
	if err := p.edit(dir, at); err != nil {
		return nil, err
	}
	if err := p.checkClean(); err != nil {
		return nil, err
	}
	if author != nil {
		p.author = *author
	} else {
		p.author = configAuthor(p.repo)
	}
	return p, nil
}

// checkNames refuses a missing environment and names that are not DNS labels.
func checkNames(model, env string) error {
	switch {
	case env == "":
		return &OptionError{errors.New(`promote needs the environment: --to ENV`)}
	case !label.MatchString(model):
		return optionErrorf("model %q is not a DNS label (lowercase letters, digits and '-', at most 63)", model)
	case !label.MatchString(env) || len(env) > 58:
		return optionErrorf("environment %q is not a DNS label of at most 58 characters", env)
	}
	return nil
}

// result reports the committed promotion.
func (p *promotion) result(hash plumbing.Hash) *Result {
	r := &Result{
		Branch:   p.branch.Short(),
		Commit:   hash.String(),
		Model:    p.model,
		Env:      p.env,
		File:     p.envFile,
		OldModel: p.oldModel,
		Remote:   pushRemote(p.repo),
	}
	if p.signKey != nil {
		r.Signer = fmt.Sprintf("%X", p.signKey.PrimaryKey.Fingerprint)
	}
	if p.head.Type() == plumbing.SymbolicReference && p.head.Target().IsBranch() {
		r.BaseBranch = p.head.Target().Short()
	}
	return r
}
