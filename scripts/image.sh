#!/bin/sh
# The daemon image without the golang build image: `make image` and the image's
# end-to-end test (examples/daemon) call this script, and so does the Dockerfile's
# build stage, so the three cannot drift.
#
#   scripts/image.sh build [TAG]   build the image (default rasa-gitops/rasa-gitops:dev,
#                                  the tag examples/daemon/compose.yml runs) from a
#                                  static binary built on this host, with the classic
#                                  builder (DOCKER_BUILDKIT=0), in a temporary context
#   scripts/image.sh stage ROOT    write what the image's final stage copies under ROOT:
#                                  ROOT/out/rasa-gitops (static), ROOT/rootfs/ (passwd,
#                                  group, /tmp, parents), ROOT/empty/ and
#                                  ROOT/etc/ssl/certs/ca-certificates.crt. The
#                                  Dockerfile's build stage runs it with ROOT=/.
#   scripts/image.sh dockerfile    print the Dockerfile's final stage with every
#                                  `--from=build` removed: the Dockerfile `build` uses,
#                                  its context laid out by `stage`
#
# VERSION (default: git describe --always --dirty, else dev) is stamped into the binary.
# POSIX sh: the golang image's /bin/sh runs it too.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
certs=/etc/ssl/certs/ca-certificates.crt

version() {
	if [ -n "${VERSION:-}" ]; then
		echo "$VERSION"
	elif v=$(git -C "$here" describe --always --dirty 2>/dev/null); then
		echo "$v"
	else
		echo dev
	fi
}

stage() {
	root=${1%/}
	# Static (CGO_ENABLED=0; SQLite is modernc.org/sqlite, pure Go), reproducible
	# (-trimpath, no VCS stamp), stripped; timetzdata embeds the time zone database that
	# change windows (CRON_TZ=…) need, since scratch has no /usr/share/zoneinfo.
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags timetzdata \
		-ldflags "-s -w -X main.version=$(version)" \
		-o "$root/out/rasa-gitops" ./cmd/rasa-gitops)
	# The few files a scratch image needs: a passwd/group entry for 65532 (so that tools
	# which look the user up find one), a sticky /tmp, and the parents of the directories
	# the user owns (created here so that they stay root's: COPY --chown would otherwise
	# create missing parents owned by 65532).
	mkdir -p "$root/rootfs/etc" "$root/rootfs/tmp" "$root/rootfs/home" "$root/rootfs/var/lib" "$root/empty"
	echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/rootfs/etc/passwd"
	echo 'nonroot:x:65532:' >"$root/rootfs/etc/group"
	chmod 1777 "$root/rootfs/tmp"
	# CA certificates for HTTPS clones and https:// model sources.
	if [ "$root$certs" != "$certs" ]; then
		[ -f "$certs" ] || { echo "image.sh: no $certs on this host (install ca-certificates)" >&2; exit 1; }
		mkdir -p "$root$(dirname "$certs")"
		cp "$certs" "$root$certs"
	fi
}

dockerfile() {
	# From the last FROM to the end, `--from=build ` dropped: the same instructions,
	# reading the build context that `stage` laid out instead of the build stage.
	out=$(awk '/^FROM /{n=NR} {line[NR]=$0} END{for(i=n;i<=NR;i++) print line[i]}' "$here/Dockerfile" |
		sed 's/ --from=build / /')
	case $out in
	*--from=*) echo "image.sh: the Dockerfile's final stage copies from a stage other than build" >&2; exit 1 ;;
	esac
	printf '%s\n' "$out"
}

build() {
	tag=${1:-rasa-gitops/rasa-gitops:dev}
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/rasa-gitops-image.XXXXXX")
	trap 'rm -rf "$ctx"' EXIT
	stage "$ctx"
	dockerfile >"$ctx/Dockerfile"
	DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case $cmd in
build) build "$@" ;;
stage) [ $# -eq 1 ] || { echo "usage: $0 stage ROOT" >&2; exit 64; }; stage "$1" ;;
dockerfile) dockerfile ;;
*) echo "usage: $0 build [TAG] | stage ROOT | dockerfile" >&2; exit 64 ;;
esac
