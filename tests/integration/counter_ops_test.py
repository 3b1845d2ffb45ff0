#!/usr/bin/python3
"""Counter records from Grove's TypeScript client, in a mesh of real groved
processes: a hub started with --counter-deltas operations takes the client's
pushes (one record per increment, each with its own HLC, re-sent on the next
sync), and an edge in the default mode peers the hub over HTTP. Both must
read the sum of the operations; a hub in the default mode reads what the
wire's totals say (the highest), which is the loss this setting fixes.

usage: counter_ops_test.py --groved PATH
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402
from data_http import DataClient  # noqa: E402

SYNC_S = 15


def ts_push(client, ops, t0):
    """A push body shaped as the TS client sends it: one record per operation."""
    changes = []
    for i, (inc, dec) in enumerate(ops):
        changes.append({
            "table": "documents", "pk": "d", "field": "views", "crdt_type": "counter",
            "hlc": {"ts": t0 + i * 1000, "c": 0, "node": client}, "node_id": client,
            "counter_delta": {"inc": inc, "dec": dec}})
    return {"changes": changes, "node_id": client}


def push(port, body):
    req = urllib.request.Request("http://127.0.0.1:%d/sync/push" % port,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, resp.status


def views(port):
    row = DataClient(port).get("documents", "d")
    return None if row is None else row.get("views")


def poll(what, read, want):
    deadline = time.monotonic() + SYNC_S
    while True:
        value = read()
        if value == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s: %r, want %r after %d s" % (what, value, want, SYNC_S))
        time.sleep(0.05)


def run(groved, work, mode, want):
    hub_port, edge_port = grpc_common.free_port(), grpc_common.free_port()
    hub = grpc_common.Groved(groved, work, "hub-" + mode,
                             ["http://127.0.0.1:%d/sync" % hub_port],
                             extra=["--counter-deltas", mode])
    edge = grpc_common.Groved(groved, work, "edge-" + mode,
                              ["http://127.0.0.1:%d/sync" % edge_port],
                              peers=["http://127.0.0.1:%d/sync" % hub_port])
    try:
        hub.start([hub_port])
        edge.start([edge_port])
        t0 = time.time_ns() // 1000 * 1000
        three_up_one_down = [(1, 0), (1, 0), (1, 0), (0, 1)]
        push(hub_port, ts_push("ts-a", three_up_one_down, t0))
        push(hub_port, ts_push("ts-a", three_up_one_down, t0))  # the re-send
        push(hub_port, ts_push("ts-b", [(2, 0), (1, 0)], t0 + 10_000_000))
        poll("%s: hub" % mode, lambda: views(hub_port), want)
        poll("%s: edge" % mode, lambda: views(edge_port), want)
        print("--counter-deltas %s: hub and edge read %d" % (mode, want))
    finally:
        edge.stop()
        hub.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    signal.alarm(120)
    with tempfile.TemporaryDirectory(prefix="grove-counter-ops-") as work:
        run(args.groved, work, "operations", 2 + 3)  # ts-a: +3 -1, ts-b: +2 +1
        run(args.groved, work, "totals", 2)  # ts-a's highest inc 1 and dec 1, ts-b's inc 2


if __name__ == "__main__":
    main()
