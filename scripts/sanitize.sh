#!/usr/bin/env bash
# The sanitizer and fuzzing step of CI (scripts/test.sh runs it after the main suite):
# AddressSanitizer + UndefinedBehaviorSanitizer (clang, with libFuzzer's coverage), in
# build-asan/: the unit and integration suites (every process they start is instrumented too),
# then each libFuzzer target for a bounded time on its seed corpus (tests/fuzz/corpus). The fault
# suite stays with the main build: its timings are part of what it tests.
# Any report fails the step: each process writes its reports to a file under a reports folder,
# and a single file there is a failure, whatever the tests said.
# ThreadSanitizer is not run yet: Debian's abseil is not instrumented, so TSan cannot see
# absl::Mutex and reports every access it guards as a race (see the README, "Sanitizers").
#   scripts/sanitize.sh; FUZZ_SECONDS per target (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds="${FUZZ_SECONDS:-60}"
jobs="$(nproc)"

# Fails when a sanitizer wrote any report into $1.
check_reports() {
  local dir="$1" name="$2"
  if compgen -G "$dir/*" >/dev/null; then
    echo "sanitize: FAILED, $name reported:"
    for f in "$dir"/*; do echo "--- $f"; head -60 "$f"; done
    exit 1
  fi
  echo "sanitize: $name clean"
}

reports="$PWD/build-asan/reports"
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSETTLE_SANITIZE=address,undefined -DSETTLE_FUZZ=ON >/dev/null
cmake --build build-asan -j"$jobs" --target unit_tests integration_tests fuzzers
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
# Two at a time, as in the main suite.
status=0
(cd build-asan && ctest -L "unit|integration" -j2 --output-on-failure --timeout 600) || status=$?
if [ "$status" -ne 0 ]; then
  check_reports "$reports" "AddressSanitizer/UndefinedBehaviorSanitizer"
  echo "sanitize: FAILED, a test failed under the sanitizers"
  exit "$status"
fi
for target in coordinator_fuzz participant_fuzz records_fuzz; do
  corpus="$(mktemp -d)"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  echo "fuzzing $target for ${fuzz_seconds}s"
  # -timeout: one input running 10 s is a hang, and a failure, like a crash.
  if ! build-asan/tests/"$target" -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$reports/../$target-" \
      "$corpus" >"$reports/../$target.log" 2>&1; then
    echo "sanitize: FAILED, $target found a crash or a hang (the input: build-asan/$target-*):"
    grep -v '^{"ts' "$reports/../$target.log" | tail -40
    check_reports "$reports" "$target"
    exit 1
  fi
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done)" "$reports/../$target.log"
  rm -rf "$corpus"
done
check_reports "$reports" "AddressSanitizer/UndefinedBehaviorSanitizer"

