#!/usr/bin/env bash
# Regenerates src/fleetproto/ from proto/fleet/ingest/v1/ingest.proto.
# protoc emits `from fleet.ingest.v1 import ingest_pb2`, which would need a
# `fleet` package; we flatten the output into `fleetproto` and rewrite that
# import so `from fleetproto import ingest_pb2, ingest_pb2_grpc` works.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$PY" -m grpc_tools.protoc -Iproto \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  proto/fleet/ingest/v1/ingest.proto
# Generated code is not mypy --strict clean; fleetplane type-checks against
# the .pyi, so silence mypy inside the generated files themselves.
for f in ingest_pb2.py ingest_pb2.pyi ingest_pb2_grpc.py; do
  { echo "# mypy: ignore-errors"
    sed -e 's/^from fleet\.ingest\.v1 import ingest_pb2 as/from fleetproto import ingest_pb2 as/' \
      "$out/fleet/ingest/v1/$f"; } > "src/fleetproto/$f"
done
echo "generated: src/fleetproto/ingest_pb2.py ingest_pb2.pyi ingest_pb2_grpc.py"
