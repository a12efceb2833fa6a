#!/usr/bin/env bash
# The SDK examples' throughput, stated how: a PostgreSQL server of its own (as demo.sh
# --postgres starts one), the coordinator, the C++ balance participant, the Python points
# participant and the TypeScript one, each on its own database of that server, then
# examples/drive.py at concurrency 1 and 16 against each: one-branch transactions through the
# same Python driver and coordinator, so the difference is the participant's. Run after
# scripts/build.sh; SECONDS_PER_STEP (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build
export PYTHONPATH=$PWD/$B/python
secs=${SECONDS_PER_STEP:-10}
work=$(mktemp -d /tmp/settle-pybench-XXXXXX)
pids=()
as=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; chmod 755 "$work"; as=(runuser -u postgres --); fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${as[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as[@]}" "$PGBIN/initdb" -D "$work/pg" -U postgres --auth-local=trust --auth-host=reject \
  --no-sync >/dev/null
"${as[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-c listen_addresses='' -k $work -p 7432" start >/dev/null
for db in bank points points_node; do "$PGBIN/psql" -h "$work" -p 7432 -U postgres -qc "CREATE DATABASE $db"; done
dsn() { echo "host=$work port=7432 user=postgres dbname=$1"; }

wait_port() {
  for _ in $(seq 400); do [ -s "$1" ] && { head -1 "$1"; return; }; sleep 0.05; done
  echo "bench.sh: a process did not start; see $work/*.log" >&2; exit 1
}
mkdir -p "$work/data"
$B/settle-coordinator --listen=127.0.0.1:0 --data_dir="$work/data/coordinator" --metrics_listen= \
  --port_file="$work/c.port" 2>"$work/coordinator.log" & pids+=($!)
C=127.0.0.1:$(wait_port "$work/c.port")
$B/settle-participant --kind=balance --listen=127.0.0.1:0 --store="$(dsn bank)" --coordinator="$C" \
  --metrics_listen= --port_file="$work/b.port" 2>"$work/balance.log" & pids+=($!)
/usr/bin/python3 sdk/python/examples/points.py --dsn "$(dsn points)" --coordinator "$C" \
  --port_file "$work/p.port" 2>"$work/points.log" & pids+=($!)
node sdk/node/dist/examples/points.js --dsn "postgresql://postgres@localhost:7432/points_node?host=$work" \
  --coordinator "$C" --name points_node --port_file "$work/n.port" 2>"$work/points_node.log" & pids+=($!)
BAL=127.0.0.1:$(wait_port "$work/b.port")
PTS=127.0.0.1:$(wait_port "$work/p.port")
NODE=127.0.0.1:$(wait_port "$work/n.port")
$B/settle --coordinator="$C" register balance "$BAL" >/dev/null
$B/settle --coordinator="$C" register points "$PTS" >/dev/null
$B/settle --coordinator="$C" register points_node "$NODE" >/dev/null
for i in $(seq 0 63); do
  $B/settle --coordinator="$C" accounts open "drive-$i" 1000000000 --at "$BAL" >/dev/null
done
for participant in balance points points_node; do
  target=${participant%_node}
  for c in 1 16; do
    /usr/bin/python3 sdk/python/examples/drive.py --coordinator "$C" --target "$target" \
      --participant "$participant" --concurrency "$c" --seconds "$secs"
  done
done
