#!/usr/bin/python3
"""Calls groved's Data service (proto/grove/data/v1/data.proto) from Python
(Debian's grpcio) with stubs generated at test time: every method, the bad
requests (each with its status and located message, changing nothing), a
watch resumed mid-stream without gap or duplicate, a write on node A seen on
node B's watch (linked over gRPC), and watches that end promptly when the
client cancels and when groved shuts down.

usage: data_grpc_python_test.py --source-dir DIR --groved PATH
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

TOKEN = "data-s3cret"
SC = grpc.StatusCode


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def generate_stubs(source_dir, out_dir):
    """data_pb2 and data_pb2_grpc (with the sync_pb2 they import)."""
    proto_dir = os.path.join(source_dir, "proto")
    try:
        from grpc_tools import protoc  # noqa: F401

        cmd = [sys.executable, "-m", "grpc_tools.protoc"]
    except ImportError:
        plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
        cmd = ["protoc", "--plugin=protoc-gen-grpc_python=" + plugin]
    subprocess.run(cmd + ["-I" + proto_dir, "--python_out=" + out_dir,
                          "--grpc_python_out=" + out_dir, "grove/sync/v1/sync.proto",
                          "grove/data/v1/data.proto"], check=True)
    sys.path.insert(0, out_dir)
    from grove.data.v1 import data_pb2, data_pb2_grpc
    return data_pb2, data_pb2_grpc


def expect_error(code, fragment, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        check(e.code() == code, "%s: %s (%s), expected %s" % (fragment, e.code(), e.details(),
                                                              code))
        check(fragment in (e.details() or ""), "details %r lack %r" % (e.details(), fragment))
        return e
    raise AssertionError("call succeeded, expected %s (%s)" % (code, fragment))


class Client:
    def __init__(self, pb, pb_grpc, target, token=TOKEN):
        self.pb = pb
        self.channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = pb_grpc.DataStub(self.channel)
        self.md = [("authorization", "Bearer " + token)]

    def call(self, method, request, **kw):
        return getattr(self.stub, method)(request, metadata=self.md, timeout=20, **kw)

    def write(self, pk, table="documents", key="", **fields):
        return self.call("Write", self.pb.WriteRequest(
            table=table, pk=pk, fields=[self.field(k, v) for k, v in fields.items()],
            idempotency_key=key))

    def field(self, name, v):
        """v: bytes (LWW JSON), int (counter delta), or (add, remove) lists."""
        pb = self.pb
        if isinstance(v, bytes):
            return pb.FieldWrite(field=name, value=v)
        if isinstance(v, int):
            return pb.FieldWrite(field=name, delta=v)
        return pb.FieldWrite(field=name, set=pb.SetOps(add=v[0], remove=v[1]))

    def get(self, pk, table="documents"):
        resp = self.call("Get", self.pb.GetRequest(table=table, pk=pk))
        check(resp.table == table and resp.pk == pk, "get echoes table and pk")
        return json.loads(resp.row)

    def watch(self, **kw):
        return self.stub.Watch(self.pb.WatchRequest(table="documents", **kw), metadata=self.md,
                               timeout=60)


def next_events(stream, n, timeout=10):
    """n events from a watch iterator, failing after timeout seconds."""
    got = []
    done = threading.Event()

    def read():
        try:
            for ev in stream:
                got.append(ev)
                if len(got) == n:
                    break
        except grpc.RpcError as e:
            got.append(e)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    check(done.wait(timeout), "only %d of %d watch events within %ss" % (len(got), n, timeout))
    for ev in got:
        check(not isinstance(ev, Exception), "watch failed: %s" % ev)
    return got


def test_auth(pb, pb_grpc, target):
    bad = Client(pb, pb_grpc, target, token="nope")
    expect_error(SC.UNAUTHENTICATED, "", bad.get, "doc")
    expect_error(SC.UNAUTHENTICATED, "", lambda: next(iter(bad.watch())))


def test_writes(c):
    resp = c.write("doc-1", title=b'"Hello"', views=5, tags=([b'"red"', b'"green"', b'"blue"'], []))
    check(json.loads(resp.row) == {"title": "Hello", "views": 5, "tags": ["blue", "green", "red"]},
          "write row %r" % resp.row)
    check(resp.table == "documents" and resp.pk == "doc-1", "write echoes table and pk")
    check(resp.hlc.ts > 1_600_000_000 * 10**9 and resp.hlc.node == "py-a", "hlc %s" % resp.hlc)
    c.write("doc-1", views=2)
    c.write("doc-1", tags=([], [b'"green"']))
    row = c.get("doc-1")
    check(row == {"title": "Hello", "views": 7, "tags": ["blue", "red"]}, "row %r" % row)
    c.write("doc-1", views=-3)
    check(c.get("doc-1")["views"] == 4, "negative delta")

    # An LWW value comes back byte-exact, whatever JSON it is.
    raw = b'{"z":1.0,"a":[1e400,"\\u00e9"]}'
    resp = c.write("doc-raw", meta=raw)
    check(raw in resp.row, "raw value %r not in %r" % (raw, resp.row))

    # A pk may hold '/', spaces and any UTF-8.
    odd = "dir/sub dir/é ✓"
    c.write(odd, title=b'"odd"')
    check(c.get(odd) == {"title": "odd"}, "odd pk")

    # A retried write with the same idempotency key changes nothing.
    first = c.write("doc-idem", key="k-1", views=10)
    again = c.write("doc-idem", key="k-1", views=10)
    check(c.get("doc-idem")["views"] == 10, "idempotent retry counted twice")
    check(first.hlc == again.hlc, "retry answers the first write's hlc")
    expect_error(SC.ALREADY_EXISTS, "", c.write, "doc-idem", key="k-1", views=11)

    # Delete, then a later write revives the row.
    resp = c.call("Delete", c.pb.DeleteRequest(table="documents", pk="doc-1"))
    check(resp.pk == "doc-1" and resp.hlc.ts > 0, "delete response")
    expect_error(SC.NOT_FOUND, "", c.get, "doc-1")
    c.write("doc-1", title=b'"Back"')
    check(c.get("doc-1")["title"] == "Back", "revived row")


def test_write_many_and_list(c):
    pb = c.pb
    rows = [pb.RowWrite(table="documents", pk="bulk/%05d" % i,
                        fields=[c.field("views", i), c.field("title", b'"t%d"' % i)])
            for i in range(2500)]
    resp = c.call("WriteMany", pb.WriteManyRequest(rows=rows))
    check(resp.rows == 2500 and resp.hlc.ts > 0, "write many: %s" % resp)

    seen, after, pages = [], "", 0
    while True:
        page = c.call("List", pb.ListRequest(table="documents", prefix="bulk/", after=after,
                                             limit=1000))
        pages += 1
        seen += [r.pk for r in page.rows]
        for r in page.rows:
            check(json.loads(r.row)["views"] == int(r.pk[5:]), "listed row %s" % r.pk)
        check(page.has_next == (page.next != ""), "has_next and next agree")
        if not page.has_next:
            break
        after = page.next
        check(pages < 10, "list does not end")
    check(seen == ["bulk/%05d" % i for i in range(2500)], "2,500 rows in order, once each")
    check(pages == 3, "pages %d" % pages)
    page = c.call("List", pb.ListRequest(table="documents", prefix="bulk/0001", limit=0))
    check([r.pk for r in page.rows] == ["bulk/%05d" % i for i in range(10, 20)], "prefix list")
    page = c.call("List", pb.ListRequest(table="documents"))
    check(len(page.rows) == 100 and page.has_next, "default limit 100")

    # Bulk writes also delete; all or nothing.
    resp = c.call("WriteMany", pb.WriteManyRequest(rows=[
        pb.RowWrite(table="documents", pk="bulk/00000", delete_row=True),
        pb.RowWrite(table="documents", pk="bulk/00001", fields=[c.field("views", 1)])]))
    expect_error(SC.NOT_FOUND, "", c.get, "bulk/00000")
    check(c.get("bulk/00001")["views"] == 2, "bulk increment")
    e = expect_error(SC.INVALID_ARGUMENT, "rows[1]", c.call, "WriteMany", pb.WriteManyRequest(rows=[
        pb.RowWrite(table="documents", pk="bulk/00002", fields=[c.field("views", 1)]),
        pb.RowWrite(table="documents", pk="bulk/00003", fields=[c.field("views", b'"x"')])]))
    check("views" in e.details(), "located: %s" % e.details())
    check(c.get("bulk/00002")["views"] == 2, "a failed bulk write changed a row")


def test_bad_requests(c, target):
    pb = c.pb
    e = expect_error(SC.PERMISSION_DENIED, "secrets", c.write, "x", table="secrets",
                     title=b'"a"')
    e = expect_error(SC.INVALID_ARGUMENT, "colour", c.write, "doc-bad", colour=b'"red"')
    e = expect_error(SC.INVALID_ARGUMENT, "views", c.write, "doc-bad", views=b'"seven"')
    check("counter" in e.details(), "wrong type names the type: %s" % e.details())
    expect_error(SC.INVALID_ARGUMENT, "title", c.write, "doc-bad", title=b'{"a":')
    expect_error(SC.INVALID_ARGUMENT, "title", c.write, "doc-bad", title=b'')
    expect_error(SC.INVALID_ARGUMENT, "no value, delta or set", c.call, "Write",
                 pb.WriteRequest(table="documents", pk="doc-bad",
                                 fields=[pb.FieldWrite(field="title")]))
    expect_error(SC.INVALID_ARGUMENT, "pk", c.write, "", title=b'"a"')
    expect_error(SC.INVALID_ARGUMENT, "pk: contains a NUL byte", c.write, "doc\0bad",
                 title=b'"a"')
    expect_error(SC.INVALID_ARGUMENT, "fields[0].field: contains a NUL byte", c.call, "Write",
                 pb.WriteRequest(table="documents", pk="doc-bad",
                                 fields=[pb.FieldWrite(field="ti\0tle", value=b"1")]))
    expect_error(SC.RESOURCE_EXHAUSTED, "", c.write, "doc-bad",
                 title=b'"' + b"x" * (16 << 20) + b'"')
    expect_error(SC.NOT_FOUND, "", c.get, "doc-bad")
    expect_error(SC.NOT_FOUND, "", c.get, "never-written")
    expect_error(SC.PERMISSION_DENIED, "secrets", c.call, "Get",
                 pb.GetRequest(table="secrets", pk="x"))
    expect_error(SC.INVALID_ARGUMENT, "", c.call, "List",
                 pb.ListRequest(table="documents", limit=10001))
    expect_error(SC.INVALID_ARGUMENT, "cursor", lambda: next(iter(c.watch(since="not-a-cursor"))))
    expect_error(SC.PERMISSION_DENIED, "secrets", lambda: next(iter(
        c.stub.Watch(pb.WatchRequest(table="secrets"), metadata=c.md, timeout=10))))
    # Bytes that are no WriteRequest at all.
    raw = c.channel.unary_unary("/grove.data.v1.Data/Write")
    expect_error(SC.INVALID_ARGUMENT, "malformed protobuf", raw, b"\xff\xff\xff", metadata=c.md,
                 timeout=10)


def test_watch(c):
    # The initial metadata says where the watch goes on from.
    stream = c.watch(prefix="w/")
    cursor0 = dict(stream.initial_metadata()).get("grove-cursor", "")
    check(cursor0, "no grove-cursor metadata")
    for i in range(3):
        c.write("w/%d" % i, title=b'"%d"' % i)
    c.write("other", title=b'"outside the prefix"')
    evs = next_events(stream, 2)
    stream.cancel()
    check([e.pk for e in evs] == ["w/0", "w/1"], "events %s" % [e.pk for e in evs])
    check(json.loads(evs[0].row) == {"title": "0"} and not evs[0].deleted, "event row")

    # Resumed from the last cursor received: w/2 once, then what follows.
    c.call("Delete", c.pb.DeleteRequest(table="documents", pk="w/0"))
    stream = c.watch(prefix="w/", since=evs[-1].cursor)
    more = next_events(stream, 2)
    stream.cancel()
    check([(e.pk, e.deleted) for e in more] == [("w/2", False), ("w/0", True)],
          "resumed %s" % [(e.pk, e.deleted) for e in more])
    check(more[1].row == b"", "a deleted event carries no row")

    # Resumed from the opening cursor, with no event seen: nothing missed.
    stream = c.watch(prefix="w/", since=cursor0)
    got = next_events(stream, 3)
    stream.cancel()
    check({e.pk for e in got} == {"w/0", "w/1", "w/2"}, "from the opening cursor %s" %
          [e.pk for e in got])

    # A snapshot first: one event per visible row.
    stream = c.watch(prefix="w/", snapshot=True)
    snap = next_events(stream, 2)
    stream.cancel()
    check(sorted(e.pk for e in snap) == ["w/1", "w/2"], "snapshot %s" % [e.pk for e in snap])


def test_cancel_and_shutdown(c, node):
    # Cancelled watches are let go: groved still stops promptly afterwards.
    for _ in range(6):
        s = c.watch()
        s.initial_metadata()
        s.cancel()
    stream = c.watch()
    stream.initial_metadata()
    ended = threading.Event()
    codes = []

    def read():
        try:
            for _ in stream:
                pass
        except grpc.RpcError as e:
            codes.append(e.code())
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    started = time.time()
    rc = node.stop()
    check(ended.wait(5), "the watch did not end on shutdown")
    check(rc == 0, "groved exited with %s" % rc)
    check(time.time() - started < 5, "shutdown took %.1fs" % (time.time() - started))
    check(codes and codes[0] in (SC.UNAVAILABLE, SC.CANCELLED), "shutdown code %s" % codes)


def test_peer_watch(pb, pb_grpc, groved, work):
    """A write on A appears on B's watch, A and B linked over gRPC."""
    pa, pb_port = grpc_common.free_port(), grpc_common.free_port()
    extra = ["--token", TOKEN, "--peer-token", TOKEN]
    a = grpc_common.Groved(groved, work, "link-a", ["grpc://127.0.0.1:%d" % pa], extra=extra)
    b = grpc_common.Groved(groved, work, "link-b", ["grpc://127.0.0.1:%d" % pb_port],
                           peers=["grpc://127.0.0.1:%d" % pa], extra=extra)
    try:
        a.start(wait_ports=[pa])
        b.start(wait_ports=[pb_port])
        ca = Client(pb, pb_grpc, "127.0.0.1:%d" % pa)
        cb = Client(pb, pb_grpc, "127.0.0.1:%d" % pb_port)
        stream = cb.watch(prefix="link/")
        stream.initial_metadata()
        ca.write("link/1", views=3)
        ev = next_events(stream, 1, timeout=20)[0]
        stream.cancel()
        check(ev.pk == "link/1" and json.loads(ev.row) == {"views": 3}, "B saw %s" % ev)
    finally:
        codes = (a.stop(), b.stop())
    check(codes == (0, 0), "linked groved exited with %s" % (codes,))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-data-grpc-") as work:
        pb, pb_grpc = generate_stubs(args.source_dir, work)
        port = grpc_common.free_port()
        node = grpc_common.Groved(args.groved, work, "py-a", ["grpc://127.0.0.1:%d" % port],
                                  extra=["--token", TOKEN])
        try:
            node.start(wait_ports=[port])
            target = "127.0.0.1:%d" % port
            c = Client(pb, pb_grpc, target)
            test_auth(pb, pb_grpc, target)
            test_writes(c)
            test_write_many_and_list(c)
            test_bad_requests(c, target)
            test_watch(c)
            test_cancel_and_shutdown(c, node)
            test_peer_watch(pb, pb_grpc, args.groved, work)
        except Exception:
            node.kill()
            for name in os.listdir(work):
                if name.endswith(".log"):
                    with open(os.path.join(work, name), "rb") as f:
                        sys.stderr.write("--- %s\n%s" % (name, f.read().decode(errors="replace")))
            raise
        finally:
            node.stop()
    print("data_grpc_python_test: OK")


if __name__ == "__main__":
    main()
