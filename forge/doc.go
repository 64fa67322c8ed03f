// Package forge posts commit statuses to the forge that hosts the declaration
// repository: GitHub, GitLab and Gitea, each through its own REST API (no client
// library in the module proxy covers the three). The notify package decides what
// to post; this one only knows each forge's request.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state it sits
// after state: the daemon's status model, once recorded, is reported back on the
// commit that caused it (docs/ARCHITECTURE.md).
package forge
