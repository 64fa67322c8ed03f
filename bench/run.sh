#!/usr/bin/env bash
# Side-by-side process benchmarks of rasa-gitops against Docker Compose v2, in one run,
# on the same rendered projects (stand-in Rasa image, no registry):
#   1. a no-op apply of examples/quickstart  vs  `docker compose up -d` on its rendered file
#   2. changing one environment of 10        vs  `docker compose up -d` of the changed file
# Usage: make bench   (or: bench/run.sh after `make build stub-image tools`)
# Env: N (no-op runs, default 20), K (change runs, default 6), COMPOSE (compose binary).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
K=${K:-6}
RG=${RG:-bin/rasa-gitops}
COMPOSE=${COMPOSE:-$(command -v bin/tools/docker-compose || command -v docker-compose)}
"$COMPOSE" version --short | grep -q '^v\?2\.' || { echo "need Docker Compose v2 (make tools)"; exit 1; }

work=$(mktemp -d)
export RASA_GITOPS_STATE_DIR=$work/state
cleanup() {
  "$RG" down examples/quickstart >/dev/null 2>&1 || true
  "$RG" down "$work/ten" >/dev/null 2>&1 || true
  "$COMPOSE" -p quickstart -f "$work/quickstart.yaml" down >/dev/null 2>&1 || true
  "$COMPOSE" -p bench-ten -f "$work/ten-a.yaml" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }

# stats NAME TIMES...: prints median, mean, min and max in ms.
stats() {
  local name=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v name="$name" '{a[NR]=$1; s+=$1} END {
    med = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%-44s runs=%-3d median=%7.1f ms  mean=%7.1f ms  min=%5d  max=%5d\n", name, NR, med, s/NR, a[1], a[NR] }'
}

# time_runs N CMD...: runs CMD N times, echoing each duration in ms.
time_runs() {
  local n=$1; shift
  for _ in $(seq 1 "$n"); do
    local t0; t0=$(ms); "$@" >/dev/null 2>&1; echo $(( $(ms) - t0 ))
  done
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); Engine $(docker version --format '{{.Server.Version}}'); $("$COMPOSE" version --short | sed 's/^/compose /')"

echo "## 1. no-op apply of examples/quickstart (3 environments)"
"$RG" apply examples/quickstart >/dev/null
mapfile -t ours < <(time_runs "$N" "$RG" apply examples/quickstart)
"$RG" down examples/quickstart >/dev/null
"$RG" render --show-secrets examples/quickstart > "$work/quickstart.yaml"
"$COMPOSE" -p quickstart -f "$work/quickstart.yaml" up -d >/dev/null 2>&1
mapfile -t theirs < <(time_runs "$N" "$COMPOSE" -p quickstart -f "$work/quickstart.yaml" up -d)
"$COMPOSE" -p quickstart -f "$work/quickstart.yaml" down >/dev/null 2>&1
stats "rasa-gitops apply (no-op)" "${ours[@]}"
stats "docker compose up -d (no-op)" "${theirs[@]}"

echo "## 2. change one environment of 10 (no host ports)"
mkdir -p "$work/ten/environments"
printf 'version: 1\nproject: bench-ten\nrasa:\n  image: rasa-gitops/rasa-stub:dev\n  pullInterval: 60s\nmodelServer:\n  url: http://127.0.0.1:1\n' > "$work/ten/rasa-gitops.yaml"
for i in $(seq -w 0 9); do : > "$work/ten/environments/env-$i.yaml"; done
variant() { printf 'service:\n  environment:\n    BENCH_VARIANT: "%s"\n' "$1" > "$work/ten/environments/env-03.yaml"; }
variant a
"$RG" apply "$work/ten" >/dev/null
ours=()
for i in $(seq 1 "$K"); do
  if (( i % 2 )); then variant b; else variant a; fi
  t0=$(ms); "$RG" apply "$work/ten" > "$work/apply.out"; ours+=($(( $(ms) - t0 )))
  touched=$(grep -c 'done' "$work/apply.out" || true)
  [ "$touched" = 1 ] || { echo "expected one action, got:"; cat "$work/apply.out"; exit 1; }
done
"$RG" down "$work/ten" >/dev/null
variant a; "$RG" render --show-secrets "$work/ten" > "$work/ten-a.yaml"
variant b; "$RG" render --show-secrets "$work/ten" > "$work/ten-b.yaml"
"$COMPOSE" -p bench-ten -f "$work/ten-a.yaml" up -d >/dev/null 2>&1
theirs=()
for i in $(seq 1 "$K"); do
  if (( i % 2 )); then f=ten-b; else f=ten-a; fi
  t0=$(ms); "$COMPOSE" -p bench-ten -f "$work/$f.yaml" up -d >/dev/null 2>&1; theirs+=($(( $(ms) - t0 )))
done
stats "rasa-gitops apply (1 of 10 recreated)" "${ours[@]}"
stats "docker compose up -d (1 of 10 recreated)" "${theirs[@]}"
echo "(rasa-gitops starts the new container beside the old one and waits until it answers GET / before removing the old one; Compose stops the old one first and does not wait)"
