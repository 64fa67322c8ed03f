// Package memengine is an in-memory Docker Engine for unit tests; every behaviour is
// also proven against the real Engine.
//
// Engine implements the whole reconcile.Engine interface (the calls rasa-gitops makes)
// and the client's Events stream, so the reconcile pipeline, the daemon's scheduling
// and the API can be tested in milliseconds, without a Docker Engine, on any machine.
// It copies the real Engine's behaviour wherever the reconcile code relies on it: the
// same error kinds (cerrdefs.IsNotFound, IsConflict, ...), the same state machine
// (created, running, paused, exited) and list Status strings ("Up 2 seconds",
// "Exited (0) 1 second ago"), the same label and name filters, the same event
// sequences (stop is kill, die, network disconnect, stop). What it does not model it
// refuses (an unknown filter is an error) rather than silently ignoring.
//
// It is deterministic: IDs are a counter hashed to 64 hex characters, IP addresses
// are handed out in order from 10.77.<n>.0/24 (one /24 per network), and nothing
// sleeps. Every container is "healthy" as soon as it starts when its image or its
// config has a health check (SetHealth changes that); a container without one counts
// on apply's StableFor. There is no network: a container's address is not reachable,
// so a service whose health is probed over HTTP (a Rasa server's HealthPort) must be
// given a health check (AddImageWithHealthcheck) to become healthy here.
//
// Beyond the Engine API, test helpers make drift and faults: Pause, Unpause, Kill (the
// process died; the restart policy applies as on the real Engine), RemoveForce
// (docker rm -f by hand), NetworkDisconnect, SetHealth, FailNext and FailNextAfter (the
// next call of a method fails before, or after, taking effect) and CutEvents (the
// event stream breaks). Calls and Mutations record every Engine call, so a test can
// assert that a converged project costs no mutating call.
//
// Everything is goroutine-safe behind one mutex.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state it stands
// in for the Engine; the end-to-end tests run the same flow on a real Engine
// (internal/testengine) and real Git (internal/testgit). See the Tests section of
// docs/ARCHITECTURE.md.
package memengine
