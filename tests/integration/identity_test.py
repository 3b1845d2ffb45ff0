#!/usr/bin/python3
"""Identities with real groved processes (docs/operations.md, "Identities"):

- a client identity from a config file, its secret in a file: its writes stay
  inside its table and prefix over HTTP and gRPC (grovectl), its lists too;
- the spoofing scenario: a peer credential that may name any node pushes to S
  records stamped with hub's id, naming hub; hub, syncing with S, still gets
  them (the two converge);
- rotation and SIGHUP: a second secret, then the first dropped, honoured by
  the gRPC listener as by the HTTP one; a reload naming a missing secret
  file is refused and the old identities stay;
- refusals are logged with the identity or "unknown credential", and no
  secret reaches a log.

usage: identity_test.py --groved PATH --grovectl PATH [--no-grpc]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402  (Groved, free_port, wait_port: no grpc import)

SECRETS = {"edge": "edge-secret-1", "edge2": "edge-secret-2", "hub": "hub-secret",
           "relay": "relay-secret", "ops": "ops-secret"}


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_for(what, cond, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise Failure("timed out waiting for " + what)


http = grpc_common.http


def ctl(grovectl, url, token, *args):
    p = subprocess.run([grovectl, "--node", url, "--token", token] + list(args),
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def write_secret(workdir, name, value):
    with open(os.path.join(workdir, name + ".secret"), "w") as f:
        f.write(value + "\n")


def write_conf(path, workdir, edge_secrets, extra=()):
    lines = ["log-level = info",
             "identity = edge role=client node=edge read=documents write=documents prefix=acme/ "
             + " ".join("secret=@%s/%s.secret" % (workdir, s) for s in edge_secrets),
             "identity = hub role=peer node=hub read=* write=* secret=@%s/hub.secret" % workdir,
             "identity = relay role=peer read=* write=* secret=env:IDT_RELAY_SECRET",
             "identity = ops role=peer read=* write=* admin secret=@%s/ops.secret" % workdir]
    with open(path, "w") as f:
        f.write("\n".join(lines + list(extra)) + "\n")


def spoofed_push(port, token, pk):
    """A sync push naming hub, its record stamped by hub."""
    now = time.time_ns()
    change = {"table": "documents", "pk": pk, "field": "title", "crdt_type": "lww",
              "hlc": {"ts": now, "c": 0, "node": "hub"}, "node_id": "hub", "value": "\"spoofed\""}
    return http(port, "POST", "/sync/push", token,
                json.dumps({"changes": [change], "node_id": "hub"}).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    ap.add_argument("--grovectl", required=True)
    ap.add_argument("--no-grpc", action="store_true")
    args = ap.parse_args()
    os.environ["IDT_RELAY_SECRET"] = SECRETS["relay"]
    workdir = tempfile.mkdtemp(prefix="grove-identity-")
    nodes = []
    try:
        for name in ("edge", "hub", "ops"):
            write_secret(workdir, name, SECRETS[name])
        write_secret(workdir, "edge2", SECRETS["edge2"])
        conf = os.path.join(workdir, "s.conf")
        write_conf(conf, workdir, ["edge"])
        hp, gp, hub_port = (grpc_common.free_port() for _ in range(3))
        listens = ["http://127.0.0.1:%d/sync" % hp]
        if not args.no_grpc:
            listens.append("grpc://127.0.0.1:%d" % gp)
        s = grpc_common.Groved(args.groved, workdir, "s", listens,
                               extra=["--config", conf, "--log-level", "info"])
        nodes.append(s)
        s.start([hp] + ([] if args.no_grpc else [gp]))
        hub = grpc_common.Groved(args.groved, workdir, "hub",
                                 ["http://127.0.0.1:%d/sync" % hub_port],
                                 peers=["http://127.0.0.1:%d/sync" % hp],
                                 extra=["--peer-token", SECRETS["hub"], "--token", "hub-own"])
        nodes.append(hub)
        hub.start([hub_port])
        urls = ["http://127.0.0.1:%d" % hp] + ([] if args.no_grpc else ["grpc://127.0.0.1:%d" % gp])

        # The client's scopes, on every listener.
        for i, url in enumerate(urls):
            rc, out = ctl(args.grovectl, url, SECRETS["edge"], "set", "documents", "acme/%d" % i,
                          'title="mine"')
            check(rc == 0, "%s: a write in scope: %s" % (url, out))
            rc, out = ctl(args.grovectl, url, SECRETS["edge"], "set", "documents",
                          "globex/%d" % i, 'title="theirs"')
            check(rc == 1 and ("403" in out or "PERMISSION_DENIED" in out),
                  "%s: a write outside the prefix: %s" % (url, out))
            rc, out = ctl(args.grovectl, url, SECRETS["ops"], "set", "documents",
                          "globex/%d" % i, 'title="ops"')
            check(rc == 0, "%s: ops writes anywhere: %s" % (url, out))
            rc, out = ctl(args.grovectl, url, SECRETS["edge"], "list", "documents")
            check(rc == 0 and "acme/" in out and "globex" not in out,
                  "%s: the client's list: %s" % (url, out))

        # The spoofing scenario converges: relay may name any node, so
        # nothing it pushes is kept from hub.
        status, body = spoofed_push(hp, SECRETS["relay"], "acme/spoofed")
        check(status == 200, "relay's push: %d %r" % (status, body))
        status, body = spoofed_push(hp, SECRETS["edge"], "acme/edge-as-hub")
        check(status == 403, "a client naming hub: %d %r" % (status, body))
        wait_for("hub to get the records stamped with its id",
                 lambda: http(hub_port, "GET", "/v1/tables/documents/rows/acme%2Fspoofed",
                              "hub-own")[0] == 200)

        # Rotation: a second secret, then the first one dropped.
        write_conf(conf, workdir, ["edge", "edge2"])
        log_path = os.path.join(workdir, "s.log")
        reloads = open(log_path).read().count("identities reloaded")
        s.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: open(log_path).read().count("identities reloaded") > reloads)
        for url in urls:
            for secret in ("edge", "edge2"):
                rc, out = ctl(args.grovectl, url, SECRETS[secret], "get", "documents", "acme/0")
                check(rc == 0, "%s: %s during the rotation: %s" % (url, secret, out))
        write_conf(conf, workdir, ["edge2"])
        reloads = open(log_path).read().count("identities reloaded")
        s.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: open(log_path).read().count("identities reloaded") > reloads)
        for url in urls:
            rc, out = ctl(args.grovectl, url, SECRETS["edge"], "get", "documents", "acme/0")
            check(rc == 1 and ("401" in out or "UNAUTHENTICATED" in out),
                  "%s: the dropped secret: %s" % (url, out))
            rc, out = ctl(args.grovectl, url, SECRETS["edge2"], "get", "documents", "acme/0")
            check(rc == 0, "%s: the new secret: %s" % (url, out))

        # A reload naming a missing secret file is refused; the old stay.
        write_conf(conf, workdir, ["edge2", "missing"])
        s.proc.send_signal(signal.SIGHUP)
        wait_for("the refusal", lambda: "reload refused" in open(log_path).read())
        check("missing.secret" in open(log_path).read(), "the refusal names the file")
        rc, out = ctl(args.grovectl, urls[-1], SECRETS["edge2"], "get", "documents", "acme/0")
        check(rc == 0, "the old identities stay: %s" % out)

        # /metrics needs an admin; refusals are logged and counted.
        check(http(hp, "GET", "/metrics", SECRETS["edge2"])[0] == 403, "metrics for a client")
        status, body = http(hp, "GET", "/metrics", SECRETS["ops"])
        check(status == 200 and b'grove_rejected_total{reason="auth"}' in body
              and b'grove_rejected_total{reason="forbidden"}' in body,
              "refusals counted: %r" % body[:200])
        text = open(log_path).read()
        check("unknown credential" in text, "an unknown credential logged")
        check("identity edge may" in text, "a refusal names the identity")
        for secret in SECRETS.values():
            for n in ("s", "hub"):
                check(secret not in open(os.path.join(workdir, n + ".log")).read(),
                      "a secret reached %s's log" % n)
        print("identity: ok")
    finally:
        for n in nodes:
            n.stop()
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
