#!/usr/bin/env bash
# Installs every package that building Settle and running its tests use, from Debian bookworm's
# archive (the container tests prepare podman itself, through ../shared/tools/container-base.sh;
# podman-compose is here for the compose test).
set -euo pipefail
PKGS=(g++ cmake pkg-config ccache make
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
      librocksdb-dev libabsl-dev prometheus-cpp-dev libgoogle-perftools-dev
      libgtest-dev libgmock-dev libbenchmark-dev curl clang libclang-rt-14-dev prometheus python3
      librabbitmq-dev rabbitmq-server librdkafka-dev libnats-dev nats-server libssl-dev
      libcurl4-openssl-dev
      libcpp-httplib-dev openssl libpq-dev postgresql podman-compose
      python3-grpcio python3-protobuf python3-psycopg2
      # The console's browser test drives Debian's headless Chromium (tests/console/).
      chromium)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# The TypeScript SDK: Debian's Node.js and npm, unless a Node.js with npm is there already.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
