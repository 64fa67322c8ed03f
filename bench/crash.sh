#!/usr/bin/env bash
# The long crash test: 30 SIGKILLs of `rasa-gitops apply` at random points of a changing
# quickstart on the real Engine, then one recovery apply, which must converge with no
# duplicate or orphaned container and an intact audit log. CI runs the short version (5).
# Usage: bench/crash.sh [RUNS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_RUNS=${1:-30}
[ -n "${2:-}" ] && export CRASH_SEED=$2
go test ./cmd/rasa-gitops -run '^TestCrashRecovery$' -count=1 -v -timeout 20m | grep -E 'crash_test|^(---|ok|FAIL)'
