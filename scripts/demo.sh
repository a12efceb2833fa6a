#!/usr/bin/env bash
# The main job: install, build, start the coordinator and the four reference participants on
# loopback (data in ./settle-data), run a payment, an insufficient-funds payment, a card payment
# (a saga through the card gateway) and its refund, print the outcomes and the balances, and
# stop everything. With --postgres, balance keeps its accounts and barrier in a PostgreSQL
# server the demo starts on loopback (Debian's postgresql), instead of RocksDB.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
B=build
DATA=settle-data
rm -rf "$DATA" && mkdir -p "$DATA"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

balance_store=()
if [ "${1:-}" = "--postgres" ]; then
  # initdb and postgres refuse root: as root they run as the postgres user, in a folder it owns.
  PG=$(mktemp -d /tmp/settle-demo-pg-XXXXXX)
  as=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG"; chmod 755 "$PG"; as=(runuser -u postgres --); fi
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  "${as[@]}" "$PGBIN/initdb" -D "$PG/data" -U postgres --auth-local=trust --auth-host=reject \
    --no-sync >"$DATA/postgres-init.log" 2>&1
  "${as[@]}" "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w \
    -o "-c listen_addresses='' -k $PG -p 7432" start >/dev/null
  pg_stop() { "${as[@]}" "$PGBIN/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$PG"; }
  trap 'cleanup; pg_stop' EXIT
  "$PGBIN/psql" -h "$PG" -p 7432 -U postgres -qc "CREATE DATABASE payments"
  balance_store=(--store="host=$PG port=7432 user=postgres dbname=payments")
  echo "balance keeps its accounts in PostgreSQL (socket in $PG, database payments)"
fi

wait_port() {  # the port a process wrote to its port file, once it serves
  for _ in $(seq 200); do [ -s "$1" ] && { head -1 "$1"; return; }; sleep 0.05; done
  echo "a process did not start; see $DATA/*.log" >&2; exit 1
}

$B/settle-coordinator --listen=127.0.0.1:7070 --metrics_listen=127.0.0.1:9464 \
  --data_dir=$DATA/coordinator --port_file=$DATA/coordinator.port 2>$DATA/coordinator.log &
pids+=($!)
wait_port $DATA/coordinator.port >/dev/null
declare -A port=([balance]=7101 [ledger]=7102 [notification]=7103 [gateway]=7104)
for kind in balance ledger notification gateway; do
  store=()
  [ $kind = balance ] && store=("${balance_store[@]}")
  $B/settle-participant --kind=$kind --listen=127.0.0.1:${port[$kind]} --data_dir=$DATA/$kind \
    --coordinator=127.0.0.1:7070 --port_file=$DATA/$kind.port "${store[@]}" 2>$DATA/$kind.log &
  pids+=($!)
  wait_port $DATA/$kind.port >/dev/null
  $B/settle register $kind 127.0.0.1:${port[$kind]}
done
$B/settle accounts open alice 10000 --at 127.0.0.1:7101
$B/settle accounts open bob 0 --at 127.0.0.1:7101
$B/settle accounts open shop 0 --at 127.0.0.1:7101

echo; echo "== payment: alice pays bob 25.00"
$B/settle transfer alice bob 2500 --key demo-payment-1
echo; echo "== payment: alice tries to pay bob 1000.00 (insufficient funds)"
$B/settle transfer alice bob 100000 --key demo-payment-2
echo; echo "== card payment (a saga): a card pays the shop 42.00"
$B/settle pay-card 4111-1111-1111-1111 shop 4200 --key demo-card-1
card_txn=$($B/settle get --key demo-card-1 --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["txn_id"])')
echo; echo "== refund of that card payment (its own saga; the refund completes asynchronously)"
$B/settle refund "$card_txn" shop 4200 --key demo-refund-1
echo; echo "== balances"
$B/settle accounts list --at 127.0.0.1:7101
echo; echo "== balance keeps its contract (settle-conformance)"
$B/settle accounts open kit 0 --at 127.0.0.1:7101 >/dev/null
$B/settle-conformance --participant 127.0.0.1:7101 --name balance --balance_account kit | tail -1
echo; echo "== journal";  $B/settle journal --at 127.0.0.1:7102
echo; echo "== outbox";   $B/settle outbox --at 127.0.0.1:7103
echo; echo "== transactions"; $B/settle list
echo; echo "stopping; data stays in ./$DATA (logs: ./$DATA/*.log)"
