// Package pipeline is the one reconcile run of rasa-gitops, used by `apply`, `serve`
// and the daemon alike. A run is a fixed sequence of named stages, each a small
// function with typed inputs and outputs:
//
//		source → render → policy → converge containers → converge models → record → report
//
//	  - source: the revision to run and the directory holding it (a Git checkout, or a
//	    plain directory fingerprinted as local@sha256:…);
//	  - render: compose.Load + compose.Render of that directory; an invalid revision is
//	    refused (shown as Refused on the environments it affects) and the last good
//	    rendering keeps being enforced;
//	  - policy: signer keys and change windows per environment (daemon only), deciding
//	    which environments keep what they run;
//	  - converge containers: reconcile.Prepare, Observe, MakePlan, Apply — run on every
//	    trigger, so drift (a container stopped, paused, removed or disconnected) is healed
//	    even when Git did not change;
//	  - converge models: fetch and retag (synchronous), then each environment's load on
//	    its own in a reconcile.Loader, which never blocks the next run; a Rasa server
//	    observed serving another model than declared is nudged again, with backoff;
//	  - record: one state.EnvStatus per environment from what was decided and observed,
//	    audit rows for actions, decisions and failing conditions (once when they start,
//	    once when they end);
//	  - report: log lines, metrics and the Report the caller prints.
//
// The daemon package only schedules triggers into Run; cmd/ only wires flags. See
// docs/ARCHITECTURE.md for the whole flow.
package pipeline
