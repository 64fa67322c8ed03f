# The rasa-gitops daemon image: one static binary on an empty (scratch) base, run as the
# non-root user 65532.
#
# Build it from the repository root (the classic builder is enough; BuildKit works too):
#
#   docker build -t rasa-gitops/rasa-gitops:dev --build-arg VERSION="$(git describe --always --dirty)" .
#
# or, with no golang image at hand, `make image` (below).
#
# Run it next to the stack it manages (examples/daemon has the same as a Compose file).
# The daemon talks to the host's Docker Engine through its socket, so the container
# must be given the socket's group (the user is not root), and the state directory must
# be mounted at the same absolute path inside and outside: the daemon passes paths
# under it (its Git checkout, generated endpoints.yml) to the Engine as bind-mount
# sources, and the Engine resolves them on the host. And it runs on the host's network:
# it reaches the Rasa servers at their container addresses, which Docker does not route
# to from another bridge network, and they reach it as host.docker.internal:8080.
#
#   sudo install -d -o 65532 -g 65532 -m 0750 /var/lib/rasa-gitops
#   docker run -d --name rasa-gitops --restart unless-stopped \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/rasa-gitops:/var/lib/rasa-gitops \
#     --network host \
#     -e RASA_GITOPS_REPO=https://git.example.com/team/rasa-deploy.git \
#     rasa-gitops/rasa-gitops:dev
#
# Nothing here needs BuildKit-only syntax (no RUN --mount, no COPY --chmod), so
# DOCKER_BUILDKIT=0 builds it as well.
#
# Without the golang image (no registry, or to skip the compile in a container),
# `make image` builds the same final stage from a binary built on the host:
# scripts/image.sh prepares the files the build stage would and runs the stage below,
# from the last FROM on, with `--from=build` dropped. Keep that stage's COPY sources to
# what scripts/image.sh stage writes.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The static binary (/out/rasa-gitops) and the few files a scratch image needs
# (/rootfs: passwd and group entries for 65532, a sticky /tmp, the parents of the
# directories the user owns; /empty), made by the same script `make image` runs on the
# host to build this image without this stage (the script reads the stage below).
RUN VERSION="${VERSION}" sh scripts/image.sh stage /

FROM scratch
# CA certificates for HTTPS clones and https:// model sources.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /rootfs/ /
# COPY creates files as 0:0 unless told otherwise; the user must own its home and the
# state directory (a named volume is initialised from the latter, ownership included).
COPY --from=build --chown=65532:65532 /empty/ /home/nonroot/
COPY --from=build --chown=65532:65532 /empty/ /var/lib/rasa-gitops/
COPY --from=build /out/rasa-gitops /rasa-gitops

# The user is not root, so the state directory must be named: the CLI's non-root
# default would be ./.rasa-gitops.
ENV HOME=/home/nonroot \
    RASA_GITOPS_STATE_DIR=/var/lib/rasa-gitops
# Non-root. The Docker socket is reached through its group: give the container that
# group with `--group-add $(stat -c %g /var/run/docker.sock)` (docker run) or
# `group_add: ["${DOCKER_GID}"]` (Compose).
USER 65532:65532
# The model server, model upload, API, webhooks, /healthz and /metrics.
EXPOSE 8080
# The Git checkout, the model store, the SQLite state and audit log, generated files
# and tokens. Mount it at the same absolute path on the host (see above).
VOLUME ["/var/lib/rasa-gitops"]
ENTRYPOINT ["/rasa-gitops"]
CMD ["daemon"]
