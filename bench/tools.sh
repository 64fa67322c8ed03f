#!/usr/bin/env bash
# Builds the peers the benchmarks and the compatibility tests compare against, from
# the Go module proxy only (no other network is needed):
#   docker compose v2 → $TOOLS_BIN/docker-compose (also a CLI plugin: `docker compose`)
#   with --models: wrk and nginx from Debian, for bench/models.sh
# Usage: bench/tools.sh [--models] [TOOLS_BIN]   (default: ./bin/tools). Idempotent.
set -euo pipefail
COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
if [ "${1:-}" = "--models" ]; then
  shift
  if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
    # The package starts a system nginx on port 80; the benchmark runs its own on loopback.
    (service nginx stop || pkill -x nginx) >/dev/null 2>&1 || true
  fi
fi
bin=${1:-${TOOLS_BIN:-$(pwd)/bin/tools}}
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)

if [ -x "$bin/docker-compose" ] && "$bin/docker-compose" version --short 2>/dev/null | grep -q "${COMPOSE_VERSION#v}"; then
  echo "docker compose ${COMPOSE_VERSION} already in $bin"
else
  # `go install module/cmd@version` refuses modules with replace/exclude directives,
  # so build the downloaded module as the main module instead.
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@${COMPOSE_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=${COMPOSE_VERSION}" \
      -o "$bin/docker-compose" ./cmd)
  echo "built docker compose ${COMPOSE_VERSION} into $bin"
fi

# Make `docker compose` work too, as Docker's own packages do.
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
mkdir -p "$plugins"
ln -sf "$bin/docker-compose" "$plugins/docker-compose"
