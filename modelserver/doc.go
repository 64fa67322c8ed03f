// Package modelserver serves every environment its model over Rasa's own
// model-server protocol (DESIGN §5):
//
//   - Store: content-addressed model files <state>/models/sha256/<hex>.tar.gz, written
//     through a temp file, digest-checked, fsynced and renamed;
//   - Tags: the tag table (environment → model), swapped atomically when a revision is
//     applied and persisted so that every process on the state directory serves the
//     same table; a download in flight finishes with the model it started with;
//   - Handler: the HTTP routes Rasa pulls from, with the headers and status codes
//     Rasa's client expects, streamed from disk;
//   - Observed: the ETag each environment sends back as If-None-Match, which is the
//     model it has loaded;
//   - Nudge: PUT /model on a Rasa server so it loads its new model at once.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state, this
// package is the model side of the host: reconcile hands it the rendered environments.
package modelserver
