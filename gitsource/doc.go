// Package gitsource follows one branch of a Git repository with go-git (no git binary
// at run time): it clones once into the state directory, fetches the branch (a
// force-pushed or rewritten branch is followed, never stuck), checks each revision out
// into its own read-only tree under <state-dir>/checkouts/<hash>, scopes changes to a
// path, verifies OpenPGP commit signatures, and checks webhook payload signatures.
//
// It is the first edge of gitsource → compose → reconcile → (Engine, modelserver) →
// state: the source stage of a pipeline run (pipeline.GitSource). A revision that
// cannot be fetched leaves the last one read running, with the error shown on every
// environment. A revision is written as Flux writes it: <branch>@sha1:<hash>. See
// docs/ARCHITECTURE.md.
package gitsource
