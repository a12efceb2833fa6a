#!/bin/sh
# Builds the importable package into OUT (default: ../../build/python): the SDK's modules and
# the gRPC stubs generated from proto/settle/v1 by protoc and grpc_python_plugin (Debian's
# protobuf-compiler and protobuf-compiler-grpc), never checked in. Then:
#   PYTHONPATH=OUT /usr/bin/python3 -c 'import settle'
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/python}
plugin=$(command -v grpc_python_plugin || true)
[ -n "$plugin" ] || { echo "generate.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }
rm -rf "$out/settle"
mkdir -p "$out/settle/v1"
cp "$here"/settle/*.py "$here/../barrier_schema.sql" "$out/settle/"
protoc -I "$root/proto" --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" "$root"/proto/settle/v1/*.proto
: > "$out/settle/v1/__init__.py"
