// Package modelserver serves every environment its model over Rasa's own
// model-server protocol:
//
//   - Store: content-addressed model files <state>/models/sha256/<hex>.tar.gz, written
//     through a temp file, digest-checked, fsynced and renamed (pushed names in
//     <state>/models/names/);
//   - Tags: the tag table (environment → model) in <state>/models/tags.json, swapped
//     atomically when a revision is applied and persisted so that every process on the
//     state directory serves the same table; a download in flight finishes with the
//     model it started with;
//   - Handler: the HTTP routes Rasa pulls from, with the headers and status codes
//     Rasa's client expects, streamed from disk, and the model upload;
//   - Observed: the ETag each environment sends back as If-None-Match, which is the
//     model it has loaded;
//   - Nudge, Unload, RasaStatus: PUT and DELETE /model and GET /status on a Rasa server.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state, this
// package is the model side of the host: the converge-models stage of a pipeline run
// (reconcile.SyncModels and its Loader) fetches into the Store, swaps the Tags and
// nudges the Rasa servers, which then pull from the Handler. See docs/ARCHITECTURE.md.
package modelserver
