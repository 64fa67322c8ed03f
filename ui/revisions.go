package ui

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// Revisions tells more of a commit than the state records: its subject, and what it
// declares (the models.yaml catalogue and each environment's model).
type Revisions interface {
	Subject(hash string) (string, error)
	Declared(hash string) (*compose.Declaration, error)
}

// CommitReader is the Git source's side the page reads (gitsource.Source).
type CommitReader interface {
	CommitSubject(hash string) (string, error)
	CheckoutsDir() string
}

// Checkouts reads revisions from the daemon's clone and its per-revision checkouts
// (<state>/checkouts/<hash>/<path>). A commit never changes, so what was read is
// kept (the last 64 revisions); a subject that could not be read is asked again.
type Checkouts struct {
	Git  CommitReader      // the daemon's Git source
	Path string            // --path inside the repository
	Env  map[string]string // the variables ${VAR} may name, as the daemon loads them

	mu    sync.Mutex
	cache map[string]*readRevision
}

type readRevision struct {
	subject    string
	subjectErr error
	decl       *compose.Declaration
	declErr    error
	declRead   bool
}

// Subject is the commit's subject.
func (c *Checkouts) Subject(hash string) (string, error) {
	r := c.entry(hash, false)
	return r.subject, r.subjectErr
}

// Declared is the declaration of the revision's checkout (a checkout removed since
// is an error).
func (c *Checkouts) Declared(hash string) (*compose.Declaration, error) {
	r := c.entry(hash, true)
	return r.decl, r.declErr
}

// entry reads (once) what is known of hash; withDecl loads its declaration too.
func (c *Checkouts) entry(hash string, withDecl bool) readRevision {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil || len(c.cache) >= 64 {
		c.cache = map[string]*readRevision{}
	}
	r := c.cache[hash]
	if r == nil {
		r = &readRevision{}
		c.cache[hash] = r
	}
	if r.subject == "" {
		// Not kept when it failed: the clone may be in the middle of a fetch.
		r.subject, r.subjectErr = c.Git.CommitSubject(hash)
	}
	if withDecl && !r.declRead {
		r.declRead = true
		dir := filepath.Join(c.Git.CheckoutsDir(), hash, filepath.FromSlash(c.Path))
		r.decl, r.declErr = compose.Load(dir, compose.LoadOptions{Env: c.Env})
		if r.declErr != nil {
			r.declErr = fmt.Errorf("read revision %.10s: %w", hash, r.declErr)
		}
	}
	return *r
}

// change says what an attempted (held or refused) declaration would change of the
// environment env, which applies model now.
func change(d *compose.Declaration, env, now string) string {
	for _, e := range d.Environments {
		if e.Name != env {
			continue
		}
		if e.Model != now {
			return fmt.Sprintf("the model %s → %s", orNone(now), orNone(e.Model))
		}
		return "its service (the model stays " + orNone(now) + ")"
	}
	return "removes " + env
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
