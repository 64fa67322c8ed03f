// Package notify reports each environment's deployment back on the commit that
// caused it, as a commit status per environment (rasa-gitops/<env>): pending while a
// change is held or a model loads, success once the Rasa server serves the model,
// failure when the change is refused or fails, error when the model fails to load.
//
// It reads the one status model (state.EnvStatus) after every run and model load and
// posts through a forge.Client from a queue of its own, retrying with backoff: a forge
// that is down or slow never delays a reconcile (docs/ARCHITECTURE.md).
package notify
