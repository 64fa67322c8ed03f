package promote

import (
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// defaultAuthor is the author of a promotion commit when neither Options.Author nor
// the Git configuration names one.
var defaultAuthor = object.Signature{Name: "rasa-gitops", Email: "rasa-gitops@localhost"}

// authorRE is Git's "Name <email>".
var authorRE = regexp.MustCompile(`^\s*([^<>\n]*[^<>\s])\s*<([^<>\s]+)>\s*$`)

// parseAuthor parses "Name <email>"; nil when s is blank.
func parseAuthor(s string) (*object.Signature, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := authorRE.FindStringSubmatch(s)
	if m == nil {
		return nil, optionErrorf(`--author %q: want "Name <email>"`, s)
	}
	return &object.Signature{Name: m[1], Email: m[2]}, nil
}

// configAuthor is user.name and user.email of the repository's Git configuration
// (local, then global, then system), each falling back to defaultAuthor.
func configAuthor(r *git.Repository) object.Signature {
	sig := defaultAuthor
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
