// Package preview answers, before a pull request is merged, what applying one of its
// revisions would do on this host as it runs now: the validation result, the plan
// (containers to create, recreate or remove, with reasons), the model change of each
// environment, and the policy verdict of each environment (applied, held until a
// window opens, refused for want of an allowed signature). It is the PR half of the
// promotion loop; the notify package is the other half (commit statuses after merge).
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state it reads
// every stage and writes none: the Engine is wrapped read-only (ReadOnly), the model
// store and the tag table are only looked at, and the one thing written is the audit
// row that says a preview happened (docs/ARCHITECTURE.md).
package preview
