#!/usr/bin/python3
"""Health and readiness of a real groved: /healthz and /readyz on its HTTP
listener and grpc.health.v1.Health/Check on its gRPC listener, with a token
configured (probes need none); then SIGTERM: the process stops cleanly.

usage: health_test.py --groved PATH
"""
import argparse
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

SERVING, NOT_SERVING = b"\x08\x01", b"\x08\x02"


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(grpc_port, service):
    """Check's answer bytes, with no serialisation: the messages are one field."""
    with grpc.insecure_channel("127.0.0.1:%d" % grpc_port) as ch:
        call = ch.unary_unary("/grpc.health.v1.Health/Check",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
        request = b"" if not service else b"\x0a" + bytes([len(service)]) + service.encode()
        return call(request, timeout=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    signal.alarm(60)
    with tempfile.TemporaryDirectory(prefix="grove-health-") as work:
        http_port, grpc_port = grpc_common.free_port(), grpc_common.free_port()
        node = grpc_common.Groved(args.groved, work, "probed",
                                  ["http://127.0.0.1:%d/sync" % http_port,
                                   "grpc://127.0.0.1:%d" % grpc_port],
                                  extra=["--token", "s3cret"])
        try:
            node.start([http_port, grpc_port])
            status, body = get(http_port, "/healthz")
            assert status == 200 and b'"ok"' in body, ("/healthz", status, body)
            # Ready once every listener is up: the ports accept a little before
            # that (a slow build, under a sanitizer, showed it), so it is waited for.
            deadline = time.time() + 20
            while True:
                status, body = get(http_port, "/readyz")
                if status == 200 or time.time() > deadline:
                    break
                assert status == 503 and b"not ready" in body, ("/readyz", status, body)
                time.sleep(0.05)
            assert status == 200 and b'"ok"' in body, ("/readyz", status, body)
            status, _ = get(http_port, "/sync/pull")
            assert status == 405, status  # the sync endpoints still want their method and token
            for service in ("", "grove.sync.v1.Sync", "grove.data.v1.Data"):
                answer = check(grpc_port, service)
                assert answer == SERVING, (service, answer)
            try:
                check(grpc_port, "no.such.Service")
                raise AssertionError("an unknown service was answered")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e
            print("health: /healthz, /readyz and Health/Check answer without a token")
        finally:
            node.stop()
        assert node.proc.returncode == 0, node.proc.returncode


if __name__ == "__main__":
    main()
