#!/bin/sh
# One of the console's browser tests (its script is the argument: console_test.mjs or
# deliveries_test.mjs) with puppeteer-core installed from the lockfile.
# Exit 77 (skipped, the reason printed) only where npm, its registry or Debian's chromium cannot
# be had; SETTLE_REQUIRE_NODE_SDK=1 makes that a failure, as for the TypeScript SDK.
set -u
cd "$(dirname "$0")"
skip() {
  echo "SKIPPED: $1"
  [ "${SETTLE_REQUIRE_NODE_SDK:-0}" = 1 ] && exit 1
  exit 77
}
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$CHROMIUM" ] || skip "Debian's chromium is not installed (apt-get install chromium)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (apt-get install nodejs npm)"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1 ||
    skip "npm ci failed, so the npm registry cannot be used from here: $(grep -m1 -E 'npm ERR! (code|request)|npm error' npm-ci.log)"
fi
CHROMIUM="$CHROMIUM" exec node "$1"
