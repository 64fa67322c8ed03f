// Package promote makes the commit a promotion pull request is made of: it sets the
// model: line of one environment file of the declaration repository
// (environments/ENV.yaml) to a model of its catalogue (models.yaml), keeping every
// other byte of the file — comments, key order, quoting, line endings — and commits
// that one change on a new branch promote/ENV/MODEL, started from HEAD and checked
// out, optionally signed with an OpenPGP key.
//
// It works on a local clone with go-git (no git binary) and pushes nothing: pushing
// the branch and merging its pull request is the deployment, which the flow gitsource
// → compose → reconcile → (Engine, modelserver) → state then carries out; promote
// stands before that flow, on the author's side (see docs/ARCHITECTURE.md).
// Everything is checked before the repository is changed, and a failed commit puts
// HEAD, the index, the file and the branch back.
//
// Run is the whole API for a caller; the files split the work by concern: yaml.go
// edits the bytes of the environment file (pure), declaration.go reads what HEAD
// declares, repo.go opens the repository and commits, author.go and sign.go turn
// options into a commit author and a signing key.
package promote
