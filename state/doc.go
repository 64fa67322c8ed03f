// Package state keeps what the daemon knows between runs in one SQLite file
// (modernc.org/sqlite, pure Go, WAL) under the state directory:
//
//   - per environment: last attempted and last applied revision, sync status, health,
//     desired and observed model, last error;
//   - the audit log: one row per decision and per action, hash-chained so that an edited,
//     deleted or reordered row is found by Verify; secrets are masked before writing;
//   - the apply journal: an apply's intent is written before its first Engine call and
//     its outcome after its last, so a process killed mid-apply is noticed at the next
//     start, which converges from the observed state.
//
// It is the last edge of gitsource → compose → reconcile → (Engine, modelserver) → state.
package state
