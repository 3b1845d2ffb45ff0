#!/usr/bin/env bash
# Sets everything up, builds, and runs a local demo mesh: a hub serving HTTP
# and gRPC, edge-1 syncing with it over HTTP and edge-2 over gRPC. A change
# written on edge-1 is read back from edge-2 after it crossed both transports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)" --target groved
bin=build/demo/bin/groved
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

table=(--table "docs:title=lww,views=counter,tags=set")
base=$((20000 + RANDOM % 20000))
hub_http=http://127.0.0.1:$base/sync
hub_grpc=grpc://127.0.0.1:$((base + 1))
edge1_http=http://127.0.0.1:$((base + 2))/sync
edge2_http=http://127.0.0.1:$((base + 3))/sync

start() { # name log args...
  local name=$1; shift
  "$bin" --node-id "$name" --db "$work/$name.db" "${table[@]}" --interval 5 "$@" \
    2> >(sed "s/^/[$name] /" >&2) &
  pids+=($!)
}
start hub --listen "$hub_http" --listen "$hub_grpc"
start edge-1 --listen "$edge1_http" --peer "$hub_http"
start edge-2 --listen "$edge2_http" --peer "$hub_grpc"
sleep 2

now=$(($(date +%s%N) / 1000 * 1000))
echo "== writing docs/hello on edge-1 (as a client node pushing one change)"
curl -sS -H 'Content-Type: application/json' -X POST "$edge1_http/push" -d '{
  "node_id": "demo-client",
  "changes": [{"table":"docs","pk":"hello","field":"title","crdt_type":"lww",
               "hlc":{"ts":'"$now"',"c":0,"node":"demo-client"},"node_id":"demo-client",
               "value":{"text":"hello from edge-1","n":1706000001000000123}}]}'
echo
echo "== waiting for edge-2 to receive it through the hub (HTTP then gRPC)"
for _ in $(seq 1 100); do
  body=$(curl -sS -H 'Content-Type: application/json' -X POST "$edge2_http/pull" \
    -d '{"tables":["docs"],"node_id":"demo-reader"}')
  if grep -q "hello from edge-1" <<<"$body"; then
    echo "edge-2 has it: $body"
    echo "demo mesh converged"
    exit 0
  fi
  sleep 0.2
done
echo "edge-2 did not receive the change" >&2
exit 1
