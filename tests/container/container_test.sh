#!/usr/bin/env bash
# Builds the image with podman, runs the coordinator and the three participants as containers
# in one pod, and runs a payment from the host through the published ports.
# Exit 77 (ctest: skipped, with the reason printed) only where podman cannot run here.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLI=${1:?usage: container_test.sh PATH_TO_settle_CLI}
source "$SRC/tests/container/podman_lib.sh"
prepare_podman_or_skip

t0=$(date +%s)
build_settle_image
t_build=$(( $(date +%s) - t0 ))
size() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
echo "image sizes: builder $(size localhost/settle-builder:test), runtime $(size localhost/settle:test); build took ${t_build}s"

# Every binary in the image finds its libraries (settle-notifier's libcurl and OpenSSL too).
missing=$(podman run --rm localhost/settle:test sh -c 'ldd /usr/local/bin/* | grep "not found" || true')
[ -z "$missing" ] || { echo "FAIL: the image lacks libraries: $missing"; exit 1; }

POD=settle-test-$$
PC=$(free_port); PB=$(free_port)
cleanup() { podman pod rm -f "$POD" >/dev/null 2>&1 || true; }
trap cleanup EXIT
podman pod create --name "$POD" -p "127.0.0.1:$PC:7070" -p "127.0.0.1:$PB:7101" >/dev/null
# No systemd here to schedule health checks; the test runs the image's check itself below.
podman run -d --pod "$POD" --name "$POD-coordinator" --health-interval=disable \
  localhost/settle:test settle-coordinator >/dev/null
for kind in balance ledger notification; do
  case $kind in balance) port=7101;; ledger) port=7102;; notification) port=7103;; esac
  podman run -d --pod "$POD" --name "$POD-$kind" \
    -e SETTLE_LISTEN=0.0.0.0:$port -e SETTLE_METRICS_LISTEN= -e SETTLE_COORDINATOR=127.0.0.1:7070 \
    -e SETTLE_DATA_DIR=/data/$kind --health-interval=disable \
    localhost/settle:test settle-participant --kind=$kind >/dev/null
done

S="$CLI --coordinator=127.0.0.1:$PC"
until_ok $S health || { podman logs "$POD-coordinator"; echo "FAIL: coordinator never became SERVING"; exit 1; }
for kind in balance ledger notification; do
  case $kind in balance) port=7101;; ledger) port=7102;; notification) port=7103;; esac
  until_ok $S register $kind 127.0.0.1:$port || { echo "FAIL: cannot register $kind"; exit 1; }
done
until_ok $CLI accounts open alice 5000 --at 127.0.0.1:$PB || { echo "FAIL: balance never answered"; exit 1; }
$CLI accounts open bob 0 --at 127.0.0.1:$PB >/dev/null

t1=$(date +%s%N)
out=$($S transfer alice bob 1200 --key container-1 --wait_for_acks)
echo "$out"
echo "$out" | grep -q " committed" || { echo "FAIL: the payment did not commit"; exit 1; }
accounts=$($CLI accounts list --at 127.0.0.1:$PB)
echo "$accounts"
echo "$accounts" | grep -Eq "^alice +available=3800 +held=0" || { echo "FAIL: alice's balance"; exit 1; }
echo "$accounts" | grep -Eq "^bob +available=1200 +held=0" || { echo "FAIL: bob's balance"; exit 1; }
# The image's own health check runs inside the container, as the runtime would.
podman healthcheck run "$POD-coordinator" || { echo "FAIL: the image's HEALTHCHECK"; exit 1; }
user=$(podman exec "$POD-coordinator" id -u)
[ "$user" != "0" ] || { echo "FAIL: the image runs as root"; exit 1; }
echo "container test passed: payment and checks took $(( ($(date +%s%N)-t1)/1000000 )) ms after start"
