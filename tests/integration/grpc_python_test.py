#!/usr/bin/python3
"""Calls groved's gRPC service from Python (grpcio) with stubs generated from
proto/grove/sync/v1/sync.proto: Push, Pull and Stream, checking exact values
(a 19-digit ts and a JSON object value come back byte-identical), auth and
error statuses.

usage: grpc_python_test.py --source-dir DIR (--groved PATH | --target HOST:PORT [--token T])
"""
import argparse
import os
import sys
import tempfile
import threading

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

TS = 1706000001000000123
VALUE = b'{"a":1,"b":[true,null]}'
TOKEN = "py-s3cret"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(pb, pb_grpc, target, token):
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=20)
    stub = pb_grpc.SyncStub(channel)
    md = [("authorization", "Bearer " + token)] if token else []

    def change(pk, field, **kw):
        return pb.ChangeRecord(table="documents", pk=pk, field=field,
                               hlc=pb.HLC(ts=kw.pop("ts", TS), c=0, node="py"),
                               node_id="py", **kw)

    # Auth: no token, wrong token.
    if token:
        for bad in ([], [("authorization", "Bearer nope")]):
            try:
                stub.Pull(pb.PullRequest(node_id="py"), metadata=bad, timeout=10)
                raise AssertionError("pull without the token succeeded")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.UNAUTHENTICATED, "auth: %s" % e.code())

    # A stream from the start, opened before the push: it must deliver it.
    stream = stub.Stream(pb.PullRequest(tables=["documents"], node_id="watcher"),
                         metadata=md, timeout=60)
    got = []
    first = threading.Event()

    def consume():
        try:
            for batch in stream:
                got.append(batch)
                first.set()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                got.append(e)
                first.set()

    reader = threading.Thread(target=consume)
    reader.start()

    push = pb.PushRequest(node_id="py", changes=[
        change("doc-1", "meta", crdt_type="lww", value=VALUE),
        change("doc-1", "views", crdt_type="counter", ts=TS + 1,
               counter_delta=pb.CounterDelta(inc=5, dec=2)),
        change("doc-1", "tags", crdt_type="set", ts=TS + 2,
               set_op=pb.SetOperation(op="add", elements=[b'"red"', b'{"k":[1,2]}'])),
    ])
    resp = stub.Push(push, metadata=md, timeout=10)
    check(resp.merged == 3, "merged %d" % resp.merged)
    check(resp.latest_hlc.ts > 0, "push latest_hlc")

    pulled = stub.Pull(pb.PullRequest(tables=["documents"], node_id="other"), metadata=md,
                       timeout=10)
    by_field = {c.field: c for c in pulled.changes}
    check(set(by_field) == {"meta", "views", "tags"}, "pulled fields %s" % sorted(by_field))
    meta = by_field["meta"]
    check(meta.hlc.ts == TS, "ts %d != %d" % (meta.hlc.ts, TS))
    check(meta.value == VALUE, "value %r != %r" % (meta.value, VALUE))
    check(meta.crdt_type == "lww" and meta.node_id == "py" and meta.hlc.node == "py", "meta")
    check(by_field["views"].counter_delta.inc == 5 and by_field["views"].counter_delta.dec == 2,
          "counter")
    check(by_field["views"].value == b"", "counter carries no value")
    elements = [bytes(e) for c in pulled.changes if c.field == "tags" for e in c.set_op.elements]
    check(sorted(elements) == sorted([b'"red"', b'{"k":[1,2]}']), "set %r" % elements)
    check(not pulled.has_more, "has_more")
    latest = pulled.latest_hlc

    again = stub.Pull(pb.PullRequest(tables=["documents"], since=latest, node_id="other"),
                      metadata=md, timeout=10)
    check(len(again.changes) == 0, "pull after latest_hlc returned %d" % len(again.changes))
    check(again.latest_hlc == latest, "cursor moved without changes")

    check(first.wait(20), "no stream batch within 20 s")
    batch = got[0]
    check(not isinstance(batch, Exception), "stream failed: %s" % batch)
    streamed = [c for b in got for c in b.changes]
    smeta = [c for c in streamed if c.field == "meta"]
    check(smeta and smeta[0].value == VALUE and smeta[0].hlc.ts == TS, "streamed meta")
    check(batch.latest_hlc.ts > 0, "stream batch latest_hlc")
    stream.cancel()
    reader.join(10)
    check(not reader.is_alive(), "stream reader did not end")

    # Errors carry the codec's message and the right status.
    bad = pb.PushRequest(node_id="py", changes=[change("doc-2", "meta", crdt_type="lww",
                                                       value=b'{"a":')])
    try:
        stub.Push(bad, metadata=md, timeout=10)
        raise AssertionError("invalid JSON value accepted")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "bad value: %s" % e.code())
        check("changes[0].value" in e.details(), "details: %s" % e.details())
    secret = pb.PushRequest(node_id="py", changes=[change("doc-3", "meta", crdt_type="lww",
                                                          value=b"1")])
    secret.changes[0].table = "secrets"
    try:
        stub.Push(secret, metadata=md, timeout=10)
        raise AssertionError("undeclared table accepted")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.PERMISSION_DENIED, "secrets: %s" % e.code())
    channel.close()


def serve_and_run(args, work):
    """Runs the calls against --target, or a groved of our own in work."""
    node = None
    try:
        pb, pb_grpc = grpc_common.generate_stubs(args.source_dir, work)
        token = args.token
        target = args.target
        if not target:
            port = grpc_common.free_port()
            token = TOKEN
            node = grpc_common.Groved(args.groved, work, "py-srv",
                                      ["grpc://127.0.0.1:%d" % port], extra=["--token", token])
            node.start(wait_ports=[port])
            target = "127.0.0.1:%d" % port
        run(pb, pb_grpc, target, token)
        print("grpc_python_test: OK")
    finally:
        if node:
            rc = node.stop()
            if rc not in (0, None):
                print("groved exited with %s" % rc)
                sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved")
    ap.add_argument("--target")
    ap.add_argument("--token", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-grpc-it-") as work:
        serve_and_run(args, work)


if __name__ == "__main__":
    main()
