#!/usr/bin/env bash
# Builds Gitea, the real forge the pull-request tests (forge, notify, e2e) run against,
# from the Go module proxy only (no other network is needed):
#   gitea $GITEA_VERSION → $TOOLS_BIN/gitea, and $TOOLS_BIN/gitea-src → the module's
#   source dir (the tests point [server] STATIC_ROOT_PATH at it for options/locale).
# Usage: scripts/gitea.sh [TOOLS_BIN]   (default: ./bin/tools). Idempotent; ~4-7 min.
set -euo pipefail
GITEA_VERSION=${GITEA_VERSION:-v1.26.0}
bin=${1:-${TOOLS_BIN:-$(pwd)/bin/tools}}
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)

src=$(GOFLAGS=-mod=mod go mod download -json "code.gitea.io/gitea@${GITEA_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
ln -sfn "$src" "$bin/gitea-src"

if [ -x "$bin/gitea" ] && "$bin/gitea" --version 2>/dev/null | grep -q "${GITEA_VERSION#v}"; then
  echo "gitea ${GITEA_VERSION} already in $bin"
  exit 0
fi
# Gitea has replace directives, so it is built as the main module, not go install'ed.
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
(cd "$work" && CGO_ENABLED=1 GOFLAGS=-buildvcs=false go build -trimpath \
    -tags 'sqlite sqlite_unlock_notify' \
    -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" \
    -o "$bin/gitea.tmp" . && mv "$bin/gitea.tmp" "$bin/gitea")
echo "built gitea ${GITEA_VERSION} into $bin"
