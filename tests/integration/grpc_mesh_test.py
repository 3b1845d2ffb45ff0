#!/usr/bin/python3
"""Mixed mesh: three groved processes, A-B over gRPC (A dials B) and B-C over
HTTP (B dials C). Writes made at A (gRPC push), B (gRPC push) and C (HTTP
push) reach every node; then B is SIGKILLed right after acknowledging a push,
writes continue at A and C, B restarts on the same store, and everything
acknowledged converges everywhere.

usage: grpc_mesh_test.py --source-dir DIR --groved PATH
"""
import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

CONVERGE_S = 60


def mesh(args, work):
    """Runs the mesh in work, the test's temporary directory."""
    nodes = []
    try:
        pb, pb_grpc = grpc_common.generate_stubs(args.source_dir, work)
        pa, pbg, pbh, pc = (grpc_common.free_port() for _ in range(4))
        a_url, bg_url = "grpc://127.0.0.1:%d" % pa, "grpc://127.0.0.1:%d" % pbg
        bh_url, c_url = "http://127.0.0.1:%d/sync" % pbh, "http://127.0.0.1:%d/sync" % pc
        c = grpc_common.Groved(args.groved, work, "C", [c_url])
        b = grpc_common.Groved(args.groved, work, "B", [bg_url, bh_url], peers=[c_url])
        a = grpc_common.Groved(args.groved, work, "A", [a_url], peers=[bg_url])
        nodes = [a, b, c]
        c.start(wait_ports=[pc])
        b.start(wait_ports=[pbg, pbh])
        a.start(wait_ports=[pa])

        stubs = {}

        def stub(port):
            if port not in stubs:
                stubs[port] = pb_grpc.SyncStub(grpc.insecure_channel("127.0.0.1:%d" % port))
            return stubs[port]

        def record(pk, value, origin):
            return {"table": "documents", "pk": pk, "field": "title", "crdt_type": "lww",
                    "hlc": {"ts": time.time_ns(), "c": 0, "node": origin},
                    "node_id": origin, "value": value}

        def push_grpc(port, rec):
            h = rec["hlc"]
            ch = pb.ChangeRecord(table=rec["table"], pk=rec["pk"], field=rec["field"],
                                 crdt_type="lww", hlc=pb.HLC(ts=h["ts"], c=h["c"], node=h["node"]),
                                 node_id=rec["node_id"], value=json.dumps(rec["value"]).encode())
            resp = stub(port).Push(pb.PushRequest(changes=[ch], node_id=rec["node_id"]),
                                   timeout=10)
            assert resp.merged == 1, "grpc push not merged"

        def http_post(port, path, body):
            req = urllib.request.Request("http://127.0.0.1:%d/sync/%s" % (port, path),
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())

        def push_http(port, rec):
            resp = http_post(port, "push", {"changes": [rec], "node_id": rec["node_id"]})
            assert resp["merged"] == 1, "http push not merged: %s" % resp

        def state_grpc(port):
            out, since = {}, None
            while True:
                req = pb.PullRequest(tables=["documents"], node_id="checker", limit=1000)
                if since is not None:
                    req.since.CopyFrom(since)
                resp = stub(port).Pull(req, timeout=10)
                for ch in resp.changes:
                    out[ch.pk] = json.loads(ch.value)
                since = resp.latest_hlc
                if not resp.has_more:
                    return out

        def state_http(port):
            out, since = {}, None
            while True:
                body = {"tables": ["documents"], "node_id": "checker", "limit": 1000}
                if since:
                    body["since"] = since
                resp = http_post(port, "pull", body)
                for ch in resp["changes"]:
                    out[ch["pk"]] = ch["value"]
                since = resp["latest_hlc"]
                if not resp.get("has_more"):
                    return out

        def states():
            return {"A": state_grpc(pa), "B": state_grpc(pbg), "C": state_http(pc)}

        def converge(expected, what):
            deadline = time.time() + CONVERGE_S
            while True:
                try:
                    s = states()
                    if all(all(st.get(k) == v for k, v in expected.items()) for st in s.values()):
                        print("%s: converged on %d rows" % (what, len(expected)))
                        return
                except (grpc.RpcError, OSError):
                    s = "unreachable"
                if time.time() > deadline:
                    raise AssertionError("%s: no convergence in %d s: %s" % (what, CONVERGE_S, s))
                time.sleep(0.25)

        expected = {}
        for i in range(5):
            for port, name, push in ((pa, "a", push_grpc), (pbg, "b", push_grpc),
                                     (pc, "c", push_http)):
                rec = record("%s-%d" % (name, i), {"from": name, "i": i, "big": 10**18 + i},
                             "writer-" + name)
                push(port, rec)
                expected[rec["pk"]] = rec["value"]
        converge(expected, "mesh")

        # B acknowledges a push and dies at once; writes go on at A and C.
        rec = record("b-acked", "acked before SIGKILL", "writer-b")
        push_grpc(pbg, rec)
        expected[rec["pk"]] = rec["value"]
        b.kill()
        stubs.pop(pbg, None)
        for i in range(5):
            for port, name, push in ((pa, "a2", push_grpc), (pc, "c2", push_http)):
                rec = record("%s-%d" % (name, i), "%s while B is down" % name, "writer-" + name)
                push(port, rec)
                expected[rec["pk"]] = rec["value"]
        b.start(wait_ports=[pbg, pbh])
        converge(expected, "after B's SIGKILL and restart")
        for n in nodes:
            rc = n.stop()
            assert rc == 0, "groved exited with %s on SIGTERM" % rc
        print("grpc_mesh_test: OK")
    finally:
        for n in nodes:
            n.stop()
        for n in nodes:
            try:
                n.log.close()
            except Exception:
                pass
        if sys.exc_info()[0] is not None:
            for name in ("A", "B", "C"):
                path = os.path.join(work, name + ".log")
                if os.path.exists(path):
                    sys.stderr.write("---- %s.log (tail)\n" % name)
                    with open(path, "rb") as f:
                        sys.stderr.write(f.read()[-3000:].decode(errors="replace"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-grpc-it-") as work:
        mesh(args, work)


if __name__ == "__main__":
    main()
