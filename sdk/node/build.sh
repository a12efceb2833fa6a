#!/bin/sh
# Builds the TypeScript SDK in its folder (the C++ build runs this): npm ci when the lockfile
# changed since the last install, then npm run build (types from proto/, tsc). Touches STAMP when
# built. When npm or the npm registry cannot be reached, it writes why into UNAVAILABLE and
# exits 0, so that the C++ build goes on and the TypeScript tests skip naming the reason; with
# SETTLE_REQUIRE_NODE_SDK=1 that is a failure. A compile error always fails.
#   sdk/node/build.sh UNAVAILABLE STAMP
set -u
unavailable=$1 stamp=$2
cd "$(dirname "$0")"
unavailable() {
  echo "the TypeScript SDK is not built: $1" >&2
  printf '%s\n' "$1" > "$unavailable"
  [ "${SETTLE_REQUIRE_NODE_SDK:-0}" = 1 ] && exit 1
  exit 0
}
command -v npm >/dev/null 2>&1 || unavailable "npm is not installed (apt-get install nodejs npm)"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error >"$unavailable.log" 2>&1; then
    unavailable "npm ci failed, so the npm registry cannot be used from here: $(grep -m1 -E 'npm ERR! (code|request)|npm error' "$unavailable.log")"
  fi
fi
npm run --silent build || exit 1
rm -f "$unavailable"
touch "$stamp"
