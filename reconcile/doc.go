// Package reconcile makes the Docker Engine run what a rendered project declares, in
// the shape of docker/compose's newest pkg/compose:
//
//   - Prepare (I/O): resolve every image (pulling a missing one), compute each
//     service's, network's and volume's config hash, and refuse a volume whose
//     configuration changed (recreating it would delete its data) — before anything is
//     changed, so a missing image or a refused volume changes nothing;
//   - Observe (I/O): three label-filtered list calls: the project's containers,
//     networks and volumes;
//   - Plan (pure): (desired, observed, options) → Plan, each action naming its target
//     and its reason in words; Plan.String() is deterministic; drift (a container
//     stopped, paused, removed or disconnected) is planned like any other difference;
//     a network whose config hash changed is recreated, its containers reconnected;
//   - Apply (I/O): a dumb executor that runs the plan's steps in order, one Engine call
//     per step, and reports a result per action; it never re-plans midway.
//
// Converge chains them on a fresh rendering, ConvergeDesired on a Desired prepared
// earlier (a run that only heals). The model side is here too: RetagModels fetches
// declared models and swaps the tag table, SyncModels starts the loads, and the Loader
// runs each environment's load on its own in the background (a newer one supersedes
// it; a failed one is retried by observation, with backoff).
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state, this
// package is the converge-containers and converge-models stages of a pipeline run: it
// receives compose.Rendered and talks to the Engine only through the narrow Engine
// interface declared here. See docs/ARCHITECTURE.md.
package reconcile
