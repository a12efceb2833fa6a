#!/usr/bin/env bash
# The README's test command. Installs dependencies, builds once, and runs every suite with ctest
# (unit, integration, fault, and the container test where podman can run), then says why any
# test skipped.
#   scripts/test.sh         that (README: "Which test command" has the times)
#   scripts/test.sh --all   then the checks that build the product again with clang: the
#                           thread-safety analysis, the sanitizer builds and the fuzzers
#                           (scripts/sanitize.sh); CI (.ci/run) runs this one
set -euo pipefail
cd "$(dirname "$0")/.."
all=false
case "${1:-}" in
  "") ;;
  --all) all=true ;;
  *) echo "usage: scripts/test.sh [--all]" >&2; exit 2 ;;
esac
scripts/install-deps.sh
scripts/build.sh
promtool check rules deploy/prometheus/alerts.yml
cd build
# Integration tests start four processes each; two at a time fit two cores. The longest tests
# start first (tests/ctest_costs.cmake).
status=0
ctest -j2 --output-on-failure --timeout 300 || status=$?
# CTest shows a skipped test's name but not its reason: say why each one skipped.
grep -h "SKIPPED LOUDLY" Testing/Temporary/LastTest.log 2>/dev/null | sort -u || true
cd ..
if $all; then
  scripts/check-thread-safety.sh || status=$?
  scripts/sanitize.sh || status=$?
fi
exit $status
