#!/usr/bin/env bash
# Cost growth of render, a no-op reconcile and a no-change poll at 1, 10, 100 and
# 1,000 environments (in-memory Engine): runs BenchmarkGrowth and writes the plot
# bench/growth.svg and the table bench/growth.md that BENCHMARKS.md links to.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./pipeline -run XXX -bench Growth -benchtime "${BENCHTIME:-10x}" -benchmem | tee "$out"
go run ./bench/growthplot bench/growth.svg bench/growth.md < "$out"
echo "wrote bench/growth.svg and bench/growth.md"
