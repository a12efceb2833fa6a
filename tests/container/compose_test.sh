#!/usr/bin/env bash
# Brings up deploy/compose.yaml with podman-compose from the locally built image, registers the
# participants and pays through the published coordinator port; the committed payment's result
# must reach the test merchant's webhook, signed, and Prometheus in the stack must scrape every
# target up. Torn down at the end. Exit 77 (ctest: skipped, reason printed) only where podman
# cannot run containers here.
#
# What is swapped, and why: this machine reaches no registry, so RabbitMQ and Prometheus run from
# Debian's packages (compose/Containerfile) in place of the registry images, and Grafana (not in
# Debian) is not started. Settle's services, their settings, the network, the volumes and the
# Prometheus configuration are the file's own. The override adds the merchant and points
# settle-notifier's webhooks at it.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLI=${1:?usage: compose_test.sh PATH_TO_settle_CLI}
source "$SRC/tests/container/podman_lib.sh"
prepare_podman_or_skip
command -v podman-compose >/dev/null || { echo "FAIL: podman-compose is missing (scripts/install-deps.sh installs it)"; exit 1; }

t0=$(date +%s)
build_settle_image
podman build -q --format docker -t localhost/settle-compose-deps:test "$SRC/tests/container/compose" >/dev/null
echo "images ready in $(( $(date +%s) - t0 ))s"

W=$(mktemp -d /tmp/settle-compose.XXXXXX)
PROJECT=settle-compose-$$
for name in COORDINATOR COORDINATOR_METRICS COORDINATOR_1 COORDINATOR_1_METRICS BALANCE LEDGER NOTIFICATION GATEWAY NOTIFIER AMQP \
            RABBITMQ_UI PROMETHEUS GRAFANA; do
  export "SETTLE_PORT_$name=$(free_port)"
done
export SETTLE_IMAGE=localhost/settle:test
PM=$(free_port)
head -c 32 /dev/urandom | base64 > "$W/webhook-key"
chmod 644 "$W/webhook-key"  # Read in the containers by settle-notifier's user and the merchant.
echo "* http://merchant:8080/settle/webhook" > "$W/webhooks"
cat > "$W/test.yaml" <<EOC
services:
  notifier:
    volumes:
      - $W/webhooks:/etc/settle/webhooks:ro
      - $W/webhook-key:/run/secrets/webhook-key:ro
  rabbitmq:
    image: localhost/settle-compose-deps:test
    user: rabbitmq
    environment: {HOME: /var/lib/rabbitmq}
    command: ["rabbitmq-server"]
  prometheus:
    image: localhost/settle-compose-deps:test
    user: prometheus
    command: ["prometheus", "--config.file=/etc/prometheus/prometheus.yml",
              "--storage.tsdb.path=/var/lib/prometheus/metrics2"]
  merchant:
    image: localhost/settle-compose-deps:test
    command: ["python3", "/usr/local/bin/merchant.py"]
    environment: {WEBHOOK_KEY_FILE: /run/secrets/webhook-key}
    volumes: ["$W/webhook-key:/run/secrets/webhook-key:ro"]
    ports: ["127.0.0.1:$PM:8080"]
EOC
compose() { podman-compose -p "$PROJECT" -f "$SRC/deploy/compose.yaml" -f "$W/test.yaml" "$@"; }
cleanup() {
  compose down -v >/dev/null 2>&1 || true
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true  # podman-compose 1.0 leaves it.
  rm -rf "$W"
}
trap cleanup EXIT
# Every service but Grafana; the participants' volumes are fresh (project-scoped).
SERVICES="coordinator-0 coordinator-1 balance ledger gateway notification notifier rabbitmq prometheus merchant"
t1=$(date +%s)
compose up -d $SERVICES > "$W/up.log" 2>&1 || { cat "$W/up.log"; echo "FAIL: podman-compose up"; exit 1; }
logs() { for s in $SERVICES; do echo "--- $s"; podman logs --tail 20 "${PROJECT}_${s}_1" 2>&1; done; }

# Two shards: the CLI sends each payment to the one that owns its key, registers at both.
S="$CLI --coordinator=127.0.0.1:$SETTLE_PORT_COORDINATOR,127.0.0.1:$SETTLE_PORT_COORDINATOR_1"
for port in $SETTLE_PORT_COORDINATOR $SETTLE_PORT_COORDINATOR_1; do
  until_ok $CLI health --at=127.0.0.1:$port || { logs; echo "FAIL: shard :$port never became SERVING"; exit 1; }
done
for p in balance:7101 ledger:7102 notification:7103 gateway:7104; do
  until_ok $S register "${p%%:*}" "$p" || { logs; echo "FAIL: cannot register $p"; exit 1; }
done
B="--at 127.0.0.1:$SETTLE_PORT_BALANCE"
until_ok $CLI accounts open alice 5000 $B || { logs; echo "FAIL: balance never answered"; exit 1; }
$CLI accounts open bob 0 $B >/dev/null

out=$($S transfer alice bob 1200 --key compose-1 --wait_for_acks)
echo "$out"
echo "$out" | grep -q " committed" || { logs; echo "FAIL: the payment did not commit"; exit 1; }
txn=$(echo "$out" | awk 'NR==1{print $1}')
$CLI accounts list $B | grep -Eq "^bob +available=1200 +held=0" || { echo "FAIL: bob's balance"; exit 1; }
echo "paid $(( $(date +%s) - t1 ))s after up"

# The result travels notification's outbox -> RabbitMQ -> settle-notifier -> merchant.
events() { python3 -c 'import json,sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$PM/events"; }
delivered() { events | python3 -c 'import json,sys; e=json.load(sys.stdin); sys.exit(0 if any(x["event"]["txn_id"]==sys.argv[1] and x["signed"] for x in e) else 1)' "$txn"; }
TIMEOUT=60 until_ok delivered || { events || true; logs; echo "FAIL: $txn's result never reached the merchant's webhook, signed"; exit 1; }
echo "webhook: $(events)"

# Prometheus scrapes both shards, the four participants and the notifier, all up.
targets() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$SETTLE_PORT_PROMETHEUS/api/v1/targets"; }
all_up() { targets | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; sys.exit(0 if len(t)==7 and all(x["health"]=="up" for x in t) else 1)'; }
TIMEOUT=60 until_ok all_up || { targets || true; echo "FAIL: Prometheus does not see every target up"; exit 1; }
targets | python3 -c 'import json,sys; [print("scraped up:", x["labels"]["job"], x["labels"]["instance"]) for x in json.load(sys.stdin)["data"]["activeTargets"]]'
echo "compose test passed in $(( $(date +%s) - t0 ))s"
