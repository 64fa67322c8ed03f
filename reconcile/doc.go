// Package reconcile makes the Docker Engine run what a rendered project declares, in
// the shape of docker/compose's newest pkg/compose:
//
//   - Prepare (I/O): resolve every image (pulling a missing one) and compute each
//     service's config hash — before anything is changed, so a missing image changes
//     nothing;
//   - Observe (I/O): one label-filtered list of the project's containers, networks and
//     volumes;
//   - Plan (pure): (desired, observed, options) → Plan, each action naming its target
//     and its reason in words; Plan.String() is deterministic;
//   - Apply (I/O): a dumb executor that runs the plan's steps in order, one Engine call
//     per step, and reports a result per action; it never re-plans midway.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state, this
// package receives compose.Rendered and talks to the Engine only through the narrow
// Engine interface declared here.
package reconcile
