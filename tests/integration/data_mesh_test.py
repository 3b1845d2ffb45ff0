#!/usr/bin/python3
"""The Data API across two linked nodes, once per sync transport (http, grpc,
nng+tcp): node A and node B are separate groved processes, each with an HTTP
listener that serves the Data API (/v1/...), and B peers A over the transport
under test. Both sync rounds are an hour apart, so only the live paths (B's
stream from A, and a write pushed to peers as it commits) can pass:

- a write on A (PATCH) comes out of B's watch (SSE);
- +5 on A and +2 on B read 7 on both nodes;
- 8 concurrent writers, 4 per node, on one row (an LWW field, a counter, a
  set) leave the same row on both nodes: every increment, every element, and
  as title the last write of one of the writers (the highest HLC).

Every wait polls against a deadline; the whole run is bounded by an alarm.

usage: data_mesh_test.py --groved PATH [--transport http|grpc|nng+tcp]...
"""
import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402
from data_http import DataClient, Watch  # noqa: E402

TABLE = "documents"
SYNC_S = 15       # how long a change may take to reach the other node
RUN_LIMIT_S = 240  # the whole test, all transports
WRITERS_PER_NODE = 4
WRITES_PER_WRITER = 25


def die_with_parent():
    """In the child: SIGKILL when the test process dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Node(grpc_common.Groved):
    """A groved with an HTTP listener for the Data API; rounds an hour apart."""

    def __init__(self, groved, workdir, node_id, http_port, more_listens=(), peers=()):
        self.http_port = http_port
        self.ports = [http_port] + [int(u.rsplit(":", 1)[1]) for u in more_listens]
        listens = ["http://127.0.0.1:%d/sync" % http_port] + list(more_listens)
        super().__init__(groved, workdir, node_id, listens, peers,
                         extra=["--interval", "3600", "--log-level", "info"])

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log,
                                     preexec_fn=die_with_parent)
        for p in self.ports:
            grpc_common.wait_port(p, self.proc)
        return self


def poll(what, read, done, timeout=SYNC_S):
    """Calls read() until done(value) holds; the last value otherwise fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s: not reached in %d s, last %r" % (what, timeout, value))
        time.sleep(0.05)


def check_watch(a, b, transport):
    """A write on A appears on B's watch."""
    watch = Watch(b.http_port, TABLE)
    try:
        pk = "doc 1/%s é" % transport  # a space, a slash and UTF-8 in one path segment
        t0 = time.monotonic()
        reply = DataClient(a.http_port).patch(TABLE, pk, {"title": "Hello from A"})
        assert reply["pk"] == pk and reply["row"]["title"] == "Hello from A", reply
        assert "hlc" in reply, reply
        event, skipped = watch.wait_for(lambda e: e["data"].get("pk") == pk, SYNC_S)
        ms = (time.monotonic() - t0) * 1000
        assert event.get("event") == "row" and event.get("id"), event
        assert event["data"]["row"]["title"] == "Hello from A", event
        assert event["data"]["deleted"] is False, event
        assert not skipped, "events before the write: %s" % skipped
        print("%s: A's write on B's watch after %.1f ms (cursor %s)" % (transport, ms, event["id"]))
    finally:
        watch.close()


def check_counters(a, b, transport):
    """+5 on A and +2 on B read 7 on both."""
    pk = "counted-" + transport
    ca, cb = DataClient(a.http_port), DataClient(b.http_port)
    assert ca.patch(TABLE, pk, {"views": 5})["row"]["views"] == 5
    assert cb.patch(TABLE, pk, {"views": 2})["row"]["views"] in (2, 7)
    for name, client in (("A", ca), ("B", cb)):
        poll("%s: views of %s on %s" % (transport, pk, name), lambda: client.get(TABLE, pk),
             lambda row: row is not None and row.get("views") == 7)
    print("%s: +5 on A, +2 on B: 7 on both" % transport)


def check_concurrent_writers(a, b, transport):
    """4 writers per node on one row converge to the same row on both nodes."""
    pk = "contended-" + transport
    errors = []

    def writer(node, w):
        client = DataClient(node.http_port)
        try:
            for i in range(WRITES_PER_WRITER):
                fields = {"title": "w%d-%d" % (w, i), "views": 1}
                if i == 0:
                    fields["tags"] = {"add": ["w%d" % w, "gone-%d" % w]}
                elif i == 1:
                    fields["tags"] = {"remove": ["gone-%d" % w]}
                client.patch(TABLE, pk, fields)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("writer %d: %r" % (w, e))
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(node, w))
               for w, node in enumerate([a, b] * WRITERS_PER_NODE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SYNC_S * 4)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not errors, errors
    writers = 2 * WRITERS_PER_NODE
    want_views = writers * WRITES_PER_WRITER
    want_tags = sorted('"w%d"' % w for w in range(writers))
    ca, cb = DataClient(a.http_port), DataClient(b.http_port)

    def both():
        return ca.get(TABLE, pk), cb.get(TABLE, pk)

    def converged(rows):
        ra, rb = rows
        return ra is not None and ra == rb and ra.get("views") == want_views

    ra, _ = poll("%s: the contended row on A and B" % transport, both, converged)
    # The set reads sorted by JSON text; the title is the highest HLC's, which is
    # some writer's last write (each writer's writes are stamped in order).
    assert ["\"%s\"" % t for t in ra["tags"]] == want_tags, ra
    last = {"w%d-%d" % (w, WRITES_PER_WRITER - 1) for w in range(writers)}
    assert ra["title"] in last, ra
    print("%s: %d writers x %d writes: the same row on both nodes: %s"
          % (transport, writers, WRITES_PER_WRITER, ra))


def run(groved, transport, work):
    nodes = []
    try:
        pa, pb = grpc_common.free_port(), grpc_common.free_port()
        if transport == "http":
            a_more, peer_url = [], "http://127.0.0.1:%d/sync" % pa
        else:
            peer_url = "%s://127.0.0.1:%d" % (transport, grpc_common.free_port())
            a_more = [peer_url]
        a = Node(groved, work, "A", pa, a_more)
        b = Node(groved, work, "B", pb, peers=[peer_url])
        nodes = [a, b]
        a.start()
        b.start()
        check_watch(a, b, transport)
        check_counters(a, b, transport)
        check_concurrent_writers(a, b, transport)
        for n in nodes:
            rc = n.stop()
            assert rc == 0, "groved exited with %s on SIGTERM" % rc
    finally:
        for n in nodes:
            n.stop()
            n.log.close()
        if sys.exc_info()[0] is not None:
            for name in ("A", "B"):
                path = os.path.join(work, name + ".log")
                if os.path.exists(path):
                    sys.stderr.write("---- %s %s.log (tail)\n" % (transport, name))
                    with open(path, "rb") as f:
                        sys.stderr.write(f.read()[-3000:].decode(errors="replace"))


def on_alarm(signum, frame):
    raise TimeoutError("data_mesh_test: over %d s" % RUN_LIMIT_S)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    ap.add_argument("--transport", action="append", choices=["http", "grpc", "nng+tcp"])
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(RUN_LIMIT_S)
    for transport in args.transport or ["http", "grpc", "nng+tcp"]:
        with tempfile.TemporaryDirectory(prefix="grove-data-mesh-") as work:
            run(args.groved, transport, work)
    print("data_mesh_test: OK")


if __name__ == "__main__":
    main()
