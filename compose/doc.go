// Package compose is the pure core of rasa-gitops: it reads a declaration repository
// (the README's "The declaration repository"), validates it totally — every problem in
// every file reported at once with its file:line:col — and renders it into a
// compose-go Project with one rasa-<env> service per environment, merged with the
// repository's own Compose files through compose-go's loader. Validation goes past
// what compose-go checks: a value the Docker Engine would refuse when apply creates or
// starts the container (engine_values.go) and a field rasa-gitops would not apply
// (UnsupportedFields; every compose-go service field is either in AppliedFields or
// refused) are problems too, so that a valid declaration does not fail at apply.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state, this
// package is the render stage of a pipeline run: Load and Render receive a checkout of
// one revision and hand reconcile a Rendered project, the labels every container
// carries and the config hash that decides when a container must be recreated; a
// revision whose Problems make it invalid is refused, and the last good rendering keeps
// being enforced. Fingerprint hashes every input of a directory render. It reads only
// the repository it is given and the daemon's environment passed in by the caller. See
// docs/ARCHITECTURE.md for the whole flow.
package compose
