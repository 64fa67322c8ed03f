// Package gitsource follows one branch of a Git repository with go-git (no git binary
// at run time): it clones once into the state directory, fetches the branch (a
// force-pushed or rewritten branch is followed, never stuck), checks a revision out
// into a stable working tree, scopes changes to a path, verifies OpenPGP commit
// signatures, and checks webhook payload signatures.
//
// It is the first edge of gitsource → compose → reconcile → (Engine, modelserver) → state.
// A revision is written as Flux writes it: <branch>@sha1:<hash>.
package gitsource
