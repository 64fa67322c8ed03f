#!/usr/bin/env bash
# Idle cost of the daemon: it manages examples/quickstart from a local Git repository
# with a 10 s poll; once converged, its resident memory and CPU are sampled for
# IDLE_SECONDS (default 60). Also prints the binary's size. Needs the stand-in image
# (make stub-image) and a Docker Engine; listens on the Docker bridge gateway only.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE_SECONDS=${IDLE_SECONDS:-60}
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$work/rasa-gitops" down "$work/work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/rasa-gitops" ./cmd/rasa-gitops
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores"
echo "binary (static, -s -w): $(stat -c %s "$work/rasa-gitops") bytes"

git init -q -b main "$work/work" && cp -r examples/quickstart/. "$work/work/"
[ -n "${PULL_INTERVAL:-}" ] && sed -i "s/pullInterval: .*/pullInterval: $PULL_INTERVAL/" "$work/work/rasa-gitops.yaml"
git -C "$work/work" add -A && git -C "$work/work" -c user.name=bench -c user.email=bench@localhost commit -qm quickstart
git clone -q --bare "$work/work" "$work/remote.git"
gateway=$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1)
RASA_GITOPS_STATE_DIR="$work/state" "$work/rasa-gitops" daemon --repo "$work/remote.git" --poll "@every 10s" \
  --listen "$gateway:8080" --log-format json 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://$gateway:8080/readyz" >/dev/null && break
  sleep 0.5
done
curl -sf "http://$gateway:8080/readyz" >/dev/null || { echo "the daemon did not converge"; tail -20 "$work/daemon.log"; exit 1; }
sleep 5 # let the first pulls settle
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N); peak=0
for _ in $(seq 1 "$IDLE_SECONDS"); do
  r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); (( r > peak )) && peak=$r
  sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v rss="$rss" -v peak="$peak" -v s="$IDLE_SECONDS" 'BEGIN {
  printf "idle for %ds with a 10s poll: RSS %.1f MB (peak %.1f MB), CPU %.3f%% of one core\n", s, rss/1024, peak/1024, 100 * (c1-c0) / hz / (t1-t0) }'
