// Package compose is the pure core of rasa-gitops: it reads a declaration repository
// (DESIGN §2), validates it totally — every problem in every file reported at once
// with its file:line:col — and renders it into a compose-go Project (DESIGN §3) with
// one rasa-<env> service per environment, merged with the repository's own Compose
// files through compose-go's loader.
//
// In the flow gitsource → compose → reconcile, this package receives a checkout of one
// revision and hands reconcile a Rendered project, the labels every container carries
// and the config hash that decides when a container must be recreated. It reads only
// the repository it is given and the daemon's environment passed in by the caller.
package compose
