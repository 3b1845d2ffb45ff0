#!/usr/bin/python3
"""GET /metrics of real groved processes: the text parses as Prometheus'
exposition format 0.0.4 (a strict parser below), it needs the listener's
token, and every family moves when its event happens.

Three nodes: hub (HTTP with a token, and gRPC), edge (syncs with hub over
gRPC, streaming; HTTP without a token) and lone (whose only peer is a dead
port, so it stays down and its writes stay pending).

usage: metrics_test.py --groved PATH
"""
import argparse
import json
import math
import os
import re
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

TOKEN = "s3cret"
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(AssertionError):
    pass


def parse_labels(text, lineno):
    """{k="v",...} -> dict, with the format's escapes (\\\\, \\", \\n) undone."""
    labels, i = {}, 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            raise ParseError("line %d: label without '='" % lineno)
        key = text[i:eq]
        if not LABEL.match(key) or key in labels:
            raise ParseError("line %d: bad or repeated label name %r" % (lineno, key))
        if text[eq + 1:eq + 2] != '"':
            raise ParseError("line %d: label value not quoted" % lineno)
        j, value = eq + 2, []
        while True:
            if j >= len(text):
                raise ParseError("line %d: unterminated label value" % lineno)
            c = text[j]
            if c == "\\":
                nxt = text[j + 1:j + 2]
                if nxt not in ('\\', '"', 'n'):
                    raise ParseError("line %d: bad escape \\%s" % (lineno, nxt))
                value.append("\n" if nxt == "n" else nxt)
                j += 2
            elif c == '"':
                break
            elif c == "\n":
                raise ParseError("line %d: raw newline in a label value" % lineno)
            else:
                value.append(c)
                j += 1
        labels[key] = "".join(value)
        j += 1
        if j < len(text):
            if text[j] != ",":
                raise ParseError("line %d: expected ',' between labels" % lineno)
            j += 1
        i = j
    return labels


def parse_value(text, lineno):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf"))
    if not re.match(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z", text):
        raise ParseError("line %d: bad value %r" % (lineno, text))
    return float(text)


def parse(text):
    """Strict exposition format 0.0.4: every sample belongs to the family its
    # TYPE line named just before, each family once, histograms complete and
    cumulative. Returns {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    if not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    families, current = {}, None
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            if not NAME.match(name) or name in families or not help_text:
                raise ParseError("line %d: bad or repeated HELP %r" % (lineno, line))
            families[name] = current = {"help": help_text, "type": None, "samples": []}
            current["name"] = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            if current is None or current["name"] != name or current["type"] or kind not in TYPES:
                raise ParseError("line %d: TYPE %r not right after its HELP" % (lineno, line))
            current["type"] = kind
        elif line.startswith("#") or not line:
            raise ParseError("line %d: unexpected %r" % (lineno, line))
        else:
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)\Z", line)
            if not m:
                raise ParseError("line %d: not a sample: %r" % (lineno, line))
            name, labels = m.group(1), parse_labels(m.group(3) or "", lineno)
            if current is None or current["type"] is None:
                raise ParseError("line %d: sample before any TYPE" % lineno)
            base = current["name"]
            allowed = {base}
            if current["type"] == "histogram":
                allowed = {base + "_bucket", base + "_sum", base + "_count"}
            if name not in allowed:
                raise ParseError("line %d: %s outside its family %s" % (lineno, name, base))
            if current["type"] == "counter" and not base.endswith("_total"):
                raise ParseError("line %d: counter %s does not end in _total" % (lineno, base))
            current["samples"].append((name, labels, parse_value(m.group(4), lineno)))
    for name, fam in families.items():
        if fam["type"] is None:
            raise ParseError("family %s has no TYPE" % name)
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    buckets = [(s[1].get("le"), s[2]) for s in samples if s[0] == name + "_bucket"]
    sums = [s for s in samples if s[0] == name + "_sum"]
    counts = [s for s in samples if s[0] == name + "_count"]
    if not buckets or buckets[-1][0] != "+Inf" or len(sums) != 1 or len(counts) != 1:
        raise ParseError("histogram %s incomplete" % name)
    bounds = [float(le.replace("Inf", "inf")) for le, _ in buckets]
    values = [v for _, v in buckets]
    if bounds != sorted(bounds) or values != sorted(values):
        raise ParseError("histogram %s not cumulative in increasing le" % name)
    if counts[0][2] != values[-1]:
        raise ParseError("histogram %s: _count differs from the +Inf bucket" % name)


def value(families, family, sample=None, **labels):
    """The sample's value (0 when the series is absent: counters start there)."""
    fam = families[family]
    for name, have, v in fam["samples"]:
        if name == (sample or family) and all(have.get(k) == w for k, w in labels.items()):
            return v
    return 0.0


def http(port, method, path, body=None, token=None, read=True):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 headers=headers, method=method)
    try:
        resp = urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    if not read:
        return resp.status, resp.headers, resp
    with resp:
        return resp.status, resp.headers, resp.read()


def scrape(port, token=None):
    status, headers, body = http(port, "GET", "/metrics", token=token)
    assert status == 200, (port, status, body)
    ctype = headers.get("Content-Type", "")
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return parse(body.decode())


def wait_until(what, fn, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        result = fn()
        if result:
            return result
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def test_parser():
    """The parser refuses what is not the format, so the checks below mean something."""
    good = ('# HELP a_total x\n# TYPE a_total counter\na_total{l="q\\"\\\\\\n"} 1\n')
    assert parse(good)["a_total"]["samples"][0][1]["l"] == 'q"\\\n'
    for bad in ("a 1\n",  # no TYPE
                "# HELP a x\n# TYPE a counter\na 1\n",  # counter without _total
                '# HELP a x\n# TYPE a gauge\na{l="x} 1\n',  # unterminated
                '# HELP a x\n# TYPE a gauge\na{l="\\q"} 1\n',  # bad escape
                "# HELP a x\n# TYPE a gauge\nb 1\n",  # outside its family
                "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  # not cumulative
                "# HELP a x\n# TYPE a gauge\na 1"):  # no final newline
        try:
            parse(bad)
        except ParseError:
            continue
        raise AssertionError("parsed: %r" % bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    ap.add_argument("--version", default=None)
    args = ap.parse_args()
    signal.alarm(120)
    test_parser()
    with tempfile.TemporaryDirectory(prefix="grove-metrics-") as work:
        hub_http, hub_grpc, edge_http, lone_http, dead = (grpc_common.free_port()
                                                          for _ in range(5))
        hub = grpc_common.Groved(args.groved, work, "hub",
                                 ["http://127.0.0.1:%d/sync" % hub_http,
                                  "grpc://127.0.0.1:%d" % hub_grpc], extra=["--token", TOKEN])
        edge = grpc_common.Groved(args.groved, work, "edge",
                                  ["http://127.0.0.1:%d/sync" % edge_http],
                                  peers=["grpc://127.0.0.1:%d" % hub_grpc],
                                  extra=["--peer-token", TOKEN])
        lone = grpc_common.Groved(args.groved, work, "lone",
                                  ["http://127.0.0.1:%d/sync" % lone_http],
                                  peers=["http://127.0.0.1:%d/sync" % dead])
        nodes = [hub, edge, lone]
        try:
            hub.start([hub_http, hub_grpc])
            edge.start([edge_http])
            lone.start([lone_http])
            run(args, hub_http, hub_grpc, edge_http, lone_http, dead)
        finally:
            codes = [n.stop() for n in nodes]
        assert codes == [0, 0, 0], codes
    print("metrics: ok")


def run(args, hub_http, hub_grpc, edge_http, lone_http, dead):
    # The token: refused without it, and the refusal is counted.
    status, _, _ = http(hub_http, "GET", "/metrics")
    assert status == 401, status
    status, _, _ = http(hub_http, "POST", "/metrics", token=TOKEN)
    assert status == 405, status
    # A request is counted once its answer is sent (when libmicrohttpd says
    # it is complete), which can be a moment after the client has read it.
    hub0 = wait_until("the refusal counted", lambda: (
        lambda m: m if value(m, "grove_rejected_total", reason="auth") >= 1 and
        value(m, "grove_requests_total", transport="http", op="metrics", code="EAUTH") >= 1
        else None)(scrape(hub_http, TOKEN)))
    info = hub0["grove_build_info"]["samples"]
    assert len(info) == 1 and info[0][2] == 1 and info[0][1]["version"], info
    if args.version:
        assert info[0][1]["version"] == args.version, info
    for fam in ("grove_store_bytes", "grove_wal_bytes"):
        assert hub0[fam]["type"] == "gauge" and value(hub0, fam) >= 0, fam
    assert value(hub0, "grove_store_bytes") > 0

    # The edge syncs with the hub over gRPC: rounds, up, last success, and
    # its stream open. The peer is named by its URL until the syncer learns
    # its node id (from the peer's answers), then by the id.
    url = "grpc://127.0.0.1:%d" % hub_grpc

    def edge_peer(f):
        names = {s[1]["peer"] for s in f["grove_peer_up"]["samples"]}
        assert len(names) == 1 and names <= {url, "hub"}, names
        return names.pop()

    edge1 = wait_until("the edge's first round", lambda: (
        lambda f: f if value(f, "grove_sync_rounds_total", peer=edge_peer(f), result="ok") >= 1
        else None)(scrape(edge_http)))
    peer1 = edge_peer(edge1)
    assert value(edge1, "grove_peer_up", peer=peer1) == 1
    assert value(edge1, "grove_peer_last_success_timestamp_seconds", peer=peer1) > time.time() - 60
    assert value(edge1, "grove_sync_round_seconds", "grove_sync_round_seconds_count") >= 1
    hub1 = wait_until("the edge's stream at the hub", lambda: (
        lambda f: f if value(f, "grove_stream_subscribers", transport="grpc") >= 1
        else None)(scrape(hub_http, TOKEN)))
    assert value(hub1, "grove_requests_total", transport="grpc", op="pull", code="OK") >= 1
    assert value(hub1, "grove_requests_total", transport="grpc", op="stream", code="OK") >= 1

    # A write on the hub: a Data API request, timed; the edge pulls it (or
    # its stream brings it) and merges it.
    seconds0 = value(hub1, "grove_request_seconds", "grove_request_seconds_count")
    status, _, body = http(hub_http, "PATCH", "/v1/tables/documents/rows/r1",
                           {"title": "from hub"}, token=TOKEN)
    assert status == 200, (status, body)
    # Counted when libmicrohttpd completes the request, which may be just
    # after the client has its answer.
    hub2 = wait_until("the write counted", lambda: (
        lambda f: f if value(f, "grove_requests_total", transport="http", op="data", code="OK") >= 1
        else None)(scrape(hub_http, TOKEN)))
    assert value(hub2, "grove_request_seconds", "grove_request_seconds_count") > seconds0
    edge2 = wait_until("the edge to merge r1", lambda: (
        lambda f: f if value(f, "grove_changes_merged_total", table="documents") >= 1
        else None)(scrape(edge_http)))
    # The hub's node id is known once it sent changes: the peer's name now.
    assert edge_peer(edge2) == "hub"
    assert value(edge2, "grove_changes_pulled_total", peer="hub") >= 1
    assert value(edge2, "grove_peer_up", peer="hub") == 1

    # A write on the edge is pushed to the hub, where it conflicts with the
    # hub's own value of the same field.
    status, _, body = http(edge_http, "PATCH", "/v1/tables/documents/rows/r1",
                           {"title": "from edge"})
    assert status == 200, (status, body)
    wait_until("the edge's push", lambda: value(scrape(edge_http), "grove_changes_pushed_total",
                                                peer="hub") >= 1)
    hub3 = wait_until("the hub to merge the edge's write", lambda: (
        lambda f: f if value(f, "grove_changes_merged_total", table="documents") >= 1
        else None)(scrape(hub_http, TOKEN)))
    assert value(hub3, "grove_conflicts_total", table="documents") >= 1
    assert value(hub3, "grove_requests_total", transport="grpc", op="push", code="OK") >= 1

    # A refused request of each kind moves its reason.
    invalid0 = value(hub3, "grove_rejected_total", reason="invalid")
    status, _, _ = http(hub_http, "PATCH", "/v1/tables/documents/rows/r2", {"nope": 1},
                        token=TOKEN)
    assert status == 400, status
    status, _, _ = http(hub_http, "PATCH", "/v1/tables/undeclared/rows/r2", {"title": "x"},
                        token=TOKEN)
    assert status == 403, status
    hub4 = wait_until("the refusals counted", lambda: (
        lambda f: f if value(f, "grove_requests_total", transport="http", op="data",
                             code="EFORBIDDEN") >= 1
        and value(f, "grove_rejected_total", reason="invalid") >= invalid0 + 1
        else None)(scrape(hub_http, TOKEN)))
    assert value(hub4, "grove_rejected_total", reason="invalid") == invalid0 + 1
    assert value(hub4, "grove_rejected_total", reason="forbidden") >= 1
    assert value(hub4, "grove_requests_total", transport="http", op="data", code="EFORBIDDEN") >= 1

    # An HTTP sync pull and a watch on the hub: their op counted, the watch a
    # subscriber while open and gone once closed.
    status, _, _ = http(hub_http, "POST", "/sync/pull", {"tables": ["documents"], "since": {"ts": 0, "c": 0, "node": ""}, "node_id": "probe"},
                        token=TOKEN)
    assert status == 200, status
    watch = socket.create_connection(("127.0.0.1", hub_http), timeout=10)
    watch.sendall(b"GET /v1/tables/documents/watch HTTP/1.1\r\nHost: hub\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
    assert watch.recv(64).startswith(b"HTTP/1.1 200")
    hub5 = wait_until("the watch as a subscriber", lambda: (
        lambda f: f if value(f, "grove_stream_subscribers", transport="http") >= 1
        else None)(scrape(hub_http, TOKEN)))
    assert value(hub5, "grove_requests_total", transport="http", op="pull", code="OK") >= 1
    watch.close()
    # The listener sees the client gone at its next keep-alive (15 s).
    wait_until("the watch to go", lambda: value(scrape(hub_http, TOKEN),
                                                "grove_stream_subscribers",
                                                transport="http") == 0, timeout=40)

    # The lone node's peer is dead: rounds fail, the peer is down, never
    # succeeded, named by its URL (no node id learned), and a local write
    # stays pending for it.
    peer = "http://127.0.0.1:%d/sync" % dead
    lone1 = wait_until("a failed round", lambda: (
        lambda f: f if value(f, "grove_sync_rounds_total", peer=peer, result="error") >= 1
        else None)(scrape(lone_http)))
    assert value(lone1, "grove_peer_up", peer=peer) == 0
    assert value(lone1, "grove_peer_last_success_timestamp_seconds", peer=peer) == 0
    assert value(lone1, "grove_peer_pending_changes", peer=peer) == 0
    for pk in ("p1", "p2"):
        status, _, _ = http(lone_http, "PATCH", "/v1/tables/documents/rows/" + pk,
                            {"title": pk, "views": 1})
        assert status == 200, status
    lone2 = scrape(lone_http)
    assert value(lone2, "grove_peer_pending_changes", peer=peer) == 4, \
        lone2["grove_peer_pending_changes"]
    # Every family the node promises is there, with its type.
    expected = {"grove_build_info": "gauge", "grove_changes_merged_total": "counter",
                "grove_conflicts_total": "counter", "grove_changes_pulled_total": "counter",
                "grove_changes_pushed_total": "counter", "grove_sync_rounds_total": "counter",
                "grove_sync_round_seconds": "histogram", "grove_peer_up": "gauge",
                "grove_peer_last_success_timestamp_seconds": "gauge",
                "grove_peer_pending_changes": "gauge", "grove_requests_total": "counter",
                "grove_request_seconds": "histogram", "grove_stream_subscribers": "gauge",
                "grove_rejected_total": "counter", "grove_store_bytes": "gauge",
                "grove_wal_bytes": "gauge"}
    for fam, kind in expected.items():
        assert lone2[fam]["type"] == kind, (fam, lone2[fam]["type"])
    assert not math.isnan(value(lone2, "grove_wal_bytes"))


if __name__ == "__main__":
    main()
