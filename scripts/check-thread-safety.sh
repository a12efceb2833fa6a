#!/usr/bin/env bash
# Clang's thread-safety analysis over every C++ source of ours that may take a lock (GCC ignores
# the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations). Syntax-only: no second build.
# Needs build/ configured (for the generated protobuf headers). The file list comes from the
# tree itself, not from git, so a release archive is checked the same; a pass over no file fails.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "check-thread-safety: FAILED, clang++ is not installed (scripts/install-deps.sh installs it)"; exit 1; }
GEN=build/gen
[ -d "$GEN" ] || { echo "check-thread-safety: FAILED, $GEN is missing: run scripts/build.sh first"; exit 1; }
dirs=()
for d in storage server client common participants messaging launch tests/testing tests/fault; do
  [ -d "$d" ] && dirs+=("$d")
done
mapfile -t srcs < <(find "${dirs[@]}" -name '*.cc' -not -name '*_fuzz.cc' | sort)
if [ ${#srcs[@]} -eq 0 ]; then
  echo "check-thread-safety: FAILED, found no source file to check under ${dirs[*]}"
  exit 1
fi
# libpq's headers live in a folder of their own (storage/postgres includes them).
PQ_CFLAGS=$(pkg-config --cflags libpq)
# cpp-httplib as the build sees it (with its OpenSSL support: server/http, the tests' client).
HTTPLIB_CFLAGS=$(pkg-config --cflags cpp-httplib)
# Two at a time: one clang per core.
printf '%s\0' "${srcs[@]}" | xargs -0 -n 1 -P "$(nproc)" \
  clang++ -std=c++17 -fsyntax-only -Wthread-safety -Werror=thread-safety \
    -Wno-unknown-warning-option -DSETTLE_BIN_DIR=\"\" -DSETTLE_SOURCE_DIR=\"\" -I. -I"$GEN" $PQ_CFLAGS $HTTPLIB_CFLAGS \
  || { echo "check-thread-safety: FAILED (see the errors above)"; exit 1; }
echo "check-thread-safety: ${#srcs[@]} files clean"
