#!/usr/bin/python3
"""Many gRPC Stream calls on one groved hold no thread each: 200 streams
are opened over a few channels, every one of them receives each of a few
pushed changes, and groved's thread count (/proc/PID/status) stays far
below the number of streams, as it does with none open. Then the streams
are cancelled from the client, and groved still serves and stops cleanly.

usage: grpc_fanout_test.py --source-dir DIR --groved PATH
"""
import argparse
import os
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

STREAMS = 200
CHANNELS = 4
PUSHES = 3


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line for %d" % pid)


def run(pb, pb_grpc, groved, workdir):
    port = grpc_common.free_port()
    node = grpc_common.Groved(groved, workdir, "fanout",
                              ["grpc://127.0.0.1:%d" % port]).start([port])
    try:
        channels = [grpc.insecure_channel("127.0.0.1:%d" % port) for _ in range(CHANNELS)]
        for ch in channels:
            grpc.channel_ready_future(ch).result(timeout=20)
        stubs = [pb_grpc.SyncStub(ch) for ch in channels]
        idle_threads = threads_of(node.proc.pid)

        got = [set() for _ in range(STREAMS)]
        lock = threading.Lock()
        calls, consumers = [], []

        def consume(i, call):
            try:
                for batch in call:
                    with lock:
                        got[i].update(c.pk for c in batch.changes)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.CANCELLED:
                    with lock:
                        got[i].add("error: %s" % e.code())

        for i in range(STREAMS):
            call = stubs[i % CHANNELS].Stream(
                pb.PullRequest(tables=["documents"], node_id="sub-%d" % i), timeout=120)
            calls.append(call)
            t = threading.Thread(target=consume, args=(i, call), daemon=True)
            t.start()
            consumers.append(t)
        time.sleep(1)  # every stream open and parked
        open_threads = threads_of(node.proc.pid)
        print("RESULT grpc_streams=%d threads_idle=%d threads_with_streams=%d"
              % (STREAMS, idle_threads, open_threads))
        check(open_threads < idle_threads + 20,
              "%d streams took %d threads (%d before)" % (STREAMS, open_threads, idle_threads))

        for k in range(PUSHES):
            change = pb.ChangeRecord(table="documents", pk="p%d" % k, field="title",
                                     crdt_type="lww",
                                     hlc=pb.HLC(ts=time.time_ns() // 1000 * 1000, c=0, node="w"),
                                     node_id="w", value=b'"t"')
            stubs[0].Push(pb.PushRequest(changes=[change], node_id="w"), timeout=20)
        want = {"p%d" % k for k in range(PUSHES)}
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if all(g >= want for g in got):
                    break
            time.sleep(0.05)
        with lock:
            missing = [i for i, g in enumerate(got) if not g >= want]
            errors = [g for g in got if any(x.startswith("error") for x in g)]
        check(not errors, "streams failed: %r" % errors[:3])
        check(not missing, "%d streams missed changes, e.g. %d: %r"
              % (len(missing), missing[0] if missing else -1,
                 got[missing[0]] if missing else None))

        for call in calls:
            call.cancel()
        for t in consumers:
            t.join(timeout=10)
        # Still serving after the cancellations.
        resp = stubs[0].Pull(pb.PullRequest(tables=["documents"], node_id="late"), timeout=20)
        check(len(resp.changes) == PUSHES, "pull after the streams: %d" % len(resp.changes))
        for ch in channels:
            ch.close()
    finally:
        rc = node.stop()
    check(rc == 0, "groved exited with %r" % rc)
    print("grpc fanout: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-grpc-fanout-") as work:
        pb, pb_grpc = grpc_common.generate_stubs(args.source_dir, work)
        run(pb, pb_grpc, args.groved, work)


if __name__ == "__main__":
    main()
