# Sourced by the container tests: rootful podman prepared by ../shared/tools/container-base.sh,
# the loud skip where this machine cannot run containers, and the image built with ccache.
# Needs SRC (the repository root) set by the caller.

CCACHE_DIR_HOST=${SETTLE_CONTAINER_CCACHE:-/var/tmp/settle-ccache}

skip() { echo "SKIPPED LOUDLY: $*"; exit 77; }

# Prepares podman and the local base image, or exits 77 with the reason.
prepare_podman_or_skip() {
  local state=${SETTLE_PODMAN_STATE:-/var/tmp/settle-podman} setup probe
  [ "$(id -u)" -eq 0 ] || skip "rootful podman needs root here"
  setup=$(bash "$SRC/../shared/tools/container-base.sh" "$state" 2>&1 | tail -1) \
    || skip "container-base.sh could not prepare podman: $setup"
  eval "$setup"
  podman info >/dev/null 2>&1 || skip "podman cannot run on this machine: $(podman info 2>&1 | tail -1)"
  # Can this machine run a container at all? Inside another container podman often has no fuse
  # device or overlay mount; that is the machine's limit, not the image's, so it is a skip.
  if ! probe=$(podman run --rm localhost/debian:bookworm-slim true 2>&1); then
    skip "this machine cannot run a container (podman run of the base image failed: $(echo "$probe" | tail -1)). Run 'ctest -L container' on a VM or bare-metal host with root and podman."
  fi
}

# Builds Settle's image as localhost/settle:test (and its builder stage, whose size the container
# test reports). The compile reuses the ccache directory; an unchanged tree reuses podman's layers.
build_settle_image() {
  mkdir -p "$CCACHE_DIR_HOST"
  podman build -q --format docker --target builder -v "$CCACHE_DIR_HOST:/ccache" \
    -t localhost/settle-builder:test "$SRC" >/dev/null
  podman build -q --format docker -v "$CCACHE_DIR_HOST:/ccache" -t localhost/settle:test "$SRC" >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs "$@" until it succeeds, for at most ${TIMEOUT:-30} s (polled every 0.2 s); fails after that.
until_ok() {
  local deadline=$(( $(date +%s) + ${TIMEOUT:-30} ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
