#!/usr/bin/env bash
# Clang's thread-safety analysis over every source that takes a lock (GCC ignores the
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations). Syntax-only: no second build.
# Needs build/ configured (for the generated protobuf headers).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "check-thread-safety: SKIPPED, clang++ not installed"; exit 0; }
GEN=build/gen
srcs=$(git ls-files 'storage/*.cc' 'server/*.cc' 'client/*.cc' 'common/*.cc' 'participants/*.cc' \
       'tests/testing/*.cc' 'tests/fault/*.cc')
status=0
for f in $srcs; do
  clang++ -std=c++17 -fsyntax-only -Wthread-safety -Werror=thread-safety \
    -Wno-unknown-warning-option -DSETTLE_BIN_DIR=\"\" -I. -I"$GEN" "$f" || status=1
done
[ $status -eq 0 ] && echo "check-thread-safety: $(echo "$srcs" | wc -w) files clean"
exit $status
