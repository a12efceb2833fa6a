#!/usr/bin/env bash
# The sanitizer and fuzzing step of CI (scripts/test.sh runs it after the main suite), in two
# clang builds of their own:
# - build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer, with libFuzzer's coverage. The
#   unit and integration suites (every process they start is instrumented too), then each
#   libFuzzer target for a bounded time on its seed corpus (tests/fuzz/corpus).
# - build-tsan/: ThreadSanitizer. The unit and integration suites, and the fault tests that load
#   the product from many threads while they kill it (the bank, saga, three-phase, power-cut and
#   hostile-traffic tests). Debian's abseil and gRPC are not instrumented:
#   tests/testing/absl_mutex_tsan.cc annotates absl::Mutex, tests/tsan_ignore.txt and
#   tests/tsan.supp keep gRPC's own inlined code out of the reports. The Kafka tests are left out:
#   librdkafka starts its threads with C11 thrd_create, which TSan does not intercept, and the
#   process dies inside TSan's runtime.
# The other fault tests stay with the main build only: they wait minutes by design.
# Any report fails the step: each process writes its reports to a file under a reports folder,
# and a single file there is a failure, whatever the tests said.
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

# Configures and builds `dir` with clang and the sanitizers `$2`, plus any further CMake flags.
# -O1 builds far faster than -O2 (3 min cold for the TSan build here) with readable stacks; -g,
# since TSan's suppressions name inlined functions, which line tables alone leave unqualified.
build() {
  local dir="$1" sanitize="$2"; shift 2
  local targets=(unit_tests integration_tests)
  [ "$sanitize" = thread ] && targets+=(fault_tests)
  [ "$sanitize" = thread ] || targets+=(fuzzers)
  cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
    -DSETTLE_SANITIZE="$sanitize" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
}

# Runs ctest in `dir` with the given selection, $JOBS at a time (two, as in the main suite,
# unless set); a failed test fails the step, after showing any report.
run_tests() {
  local dir="$1" name="$2"; shift 2
  local status=0
  (cd "$dir" && ctest -j"${JOBS:-2}" --output-on-failure --timeout 900 "$@") || status=$?
  if [ "$status" -ne 0 ]; then
    check_reports "$dir/reports" "$name"
    echo "sanitize: FAILED, a test failed under $name"
    exit "$status"
  fi
}

# --- AddressSanitizer + UndefinedBehaviorSanitizer, and the fuzzers ---
reports="$PWD/build-asan/reports"
build build-asan address,undefined -DSETTLE_FUZZ=ON
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
run_tests build-asan "AddressSanitizer/UndefinedBehaviorSanitizer" -L "unit|integration"
for target in coordinator_fuzz participant_fuzz records_fuzz http_fuzz; do
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
unset ASAN_OPTIONS UBSAN_OPTIONS

# --- ThreadSanitizer ---
reports="$PWD/build-tsan/reports"
build build-tsan thread
rm -rf "$reports" && mkdir -p "$reports"
export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1:ignore_noninstrumented_modules=1"
# TSan slows every process several times over, so a test that fails on its timing there runs
# once more; a report still fails the step, since check_reports reads every report written.
run_tests build-tsan ThreadSanitizer --repeat until-pass:2 -L "unit|integration" -E "^Kafka"
# One at a time: each loads both cores and kills processes that TSan makes slow to start; two
# together starved a coordinator restarted every 50-400 ms until no payment got through.
JOBS=1 run_tests build-tsan ThreadSanitizer --repeat until-pass:2 -L fault \
  -R "^(BankFaultTest|SagaFaultTest|HostileTrafficTest|ThreePhaseFaultTest.ACoordinator|PowerCutTest.PowerCutsAtRandom)"
check_reports "$reports" ThreadSanitizer
