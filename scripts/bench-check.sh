#!/usr/bin/env bash
# The bench bar: runs settle-bench's c=64 step against the bare unary fan-out of the same work
# (--baseline, several rounds, the median round kept) and fails when Settle's throughput falls
# below SETTLE_BENCH_MIN_RATIO of the fan-out's. A ratio, not txn/s: both sides share the
# machine's noise. It reports the figure every time, so drift shows before it fails.
#
# Why 0.95: with the batched participant channel the c=64 ratio here measured 1.43-1.63 (median of
# rounds; single rounds 1.32-1.65); the unary channel (--participant_batches=false, what a
# regression that loses batching falls back to) measured 0.64-0.81, single rounds 0.62-0.94.
# The bar sits above every unary figure and 0.3 below the lowest batched round. Not a timed
# test: run it on a quiet machine, after the build (CI runs it after the test suites).
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${SETTLE_BENCH_MIN_RATIO:-0.95}
ROUNDS=${SETTLE_BENCH_ROUNDS:-5}
BENCH=build/settle-bench
[ -x "$BENCH" ] || { echo "bench-check: FAILED, $BENCH is missing: run scripts/build.sh first"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BENCH" --local --baseline --concurrency 64 --duration 10s --rounds "$ROUNDS" --progress=false \
  --json >"$out" || { echo "bench-check: FAILED, settle-bench exited with an error"; exit 1; }
python3 - "$out" "$MIN" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
bar = float(sys.argv[2])
step = report["steps"][0]
ratio = step["tps_ratio"]
rounds = " ".join("%.2f" % r["tps_ratio"] for r in step["rounds"])
print("bench-check: c=64 Settle %.0f txn/s (p99 %.1f ms), bare fan-out %.0f txn/s (p99 %.1f ms): "
      "ratio %.2f (rounds %s), p99 ratio %.2f; bar %.2f"
      % (step["settle"]["tps"], step["settle"]["p99_ms"], step["baseline"]["tps"],
         step["baseline"]["p99_ms"], ratio, rounds, step["p99_ratio"], bar))
if step["settle"]["results"].get("committed", 0) == 0:
    sys.exit("bench-check: FAILED, no transaction committed")
if ratio < bar:
    sys.exit("bench-check: FAILED, the ratio %.2f is below the bar %.2f: profile the coordinator "
             "(README, Performance) before this lands" % (ratio, bar))
print("bench-check: ok")
PY
