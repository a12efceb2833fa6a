#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit and integration) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/check-thread-safety.sh
promtool check rules deploy/prometheus/alerts.yml
cd build
# Integration tests start four processes each; two at a time fit two cores.
ctest -j2 --output-on-failure --timeout 300
