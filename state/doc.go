// Package state keeps what the daemon knows between runs in one SQLite file,
// <state-dir>/state.db (modernc.org/sqlite, pure Go, WAL), with the tables
// environments, audit, journal and meta:
//
//   - the one status model: an EnvStatus per environment (last attempted and last
//     applied revision, Sync and Health with their reasons, desired and observed model,
//     source error, Since, ObservedAt), changed only through the pure transition Next
//     from a run's Decision and Observation;
//   - the audit log: one row per decision and per action, hash-chained so that an
//     edited, deleted or reordered row is found by Verify; a failing condition is a row
//     when it starts and when it ends; secrets are masked before writing;
//   - the apply journal: an apply's intent is written before its first Engine call and
//     its outcome after its last, so a process killed mid-apply is noticed at the next
//     start, which converges from the observed state.
//
// Commit writes statuses and their audit rows in one transaction. It is the last edge
// of gitsource → compose → reconcile → (Engine, modelserver) → state: the record stage
// of a pipeline run writes it, status, the API and the metrics read it. See
// docs/ARCHITECTURE.md.
package state
