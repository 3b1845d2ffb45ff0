#!/usr/bin/python3
"""Operations against real groved processes (docs/operations.md):

- grovectl status and sync against a live two-node mesh with tokens and an
  admin listener with its own token (JSON when piped, text on a terminal;
  a named peer, an unknown one, wrong tokens, the admin listener serving
  nothing but health and the admin API);
- grovectl backup while writes go on: the copy passes PRAGMA
  integrity_check, and a node restored from it catches up from its peer
  (every acknowledged write, also those made after the copy) before it
  listens;
- SIGHUP with a good file (log level and interval change, listeners and
  streams stay) and a bad one (refused with file:line, old settings stay);
- every log line parses as logfmt, and as JSON with --log-format json.

usage: operations_test.py --groved PATH --grovectl PATH
"""
import argparse
import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402  (Groved, free_port, wait_port)

TOKEN = "data-s3cret"
ADMIN_TOKEN = "admin-s3cret"
TABLE = "documents:title=lww,meta=lww,views=counter,tags=set"

# key=value, key="quoted \" value", or a bare key, separated by one space.
LOGFMT_PAIR = r'[A-Za-z_][A-Za-z0-9_.]*(=("([^"\\]|\\.)*"|[^ "=]*))?'
LOGFMT_LINE = re.compile(r'^ts=\S+ level=(debug|info|warn|error) msg=("([^"\\]|\\.)*"|[^ "=]+)'
                         r'( ' + LOGFMT_PAIR + r')*$')


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


http = grpc_common.http


def write_row(port, pk, title):
    status, body = http(port, "PATCH", "/v1/tables/documents/rows/" + pk, TOKEN,
                        json.dumps({"title": title}).encode())
    check(status == 200, "write %s: %d %r" % (pk, status, body))


def get_row(port, pk):
    status, body = http(port, "GET", "/v1/tables/documents/rows/" + pk, TOKEN)
    return json.loads(body)["row"] if status == 200 else None


def wait_for(what, fn, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise Failure("timed out waiting for " + what)


def wait_ready(port, proc, timeout=20.0):
    def ready():
        check(proc.poll() is None, "groved exited with %s" % proc.returncode)
        try:
            return http(port, "GET", "/readyz")[0] == 200
        except OSError:
            return False
    wait_for("readiness on %d" % port, ready, timeout)


class Ctl:
    def __init__(self, exe, port, token):
        self.exe, self.port, self.token = exe, port, token

    def argv(self, args):
        return [self.exe, "--node", "http://127.0.0.1:%d" % self.port, "--token", self.token] + \
            list(args)

    def run(self, *args, expect=0):
        p = subprocess.run(self.argv(args), capture_output=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        out, err = p.stdout.decode(), p.stderr.decode()
        check(p.returncode == expect, "grovectl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
              % (" ".join(args), p.returncode, expect, out, err))
        return out, err

    def on_terminal(self, *args):
        """stdout of grovectl run on a pseudo-terminal."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(self.exe, self.argv(args))
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        check(os.WEXITSTATUS(status) == 0, "grovectl %s on a terminal: %d" % (args, status))
        return b"".join(chunks).decode().replace("\r\n", "\n")


def node(args, workdir, node_id, port, peer_port, extra=(), db=None):
    return grpc_common.Groved(
        args.groved, workdir, node_id, ["http://127.0.0.1:%d/sync" % port],
        ["http://127.0.0.1:%d/sync" % peer_port],
        ["--token", TOKEN, "--peer-token", TOKEN, "--log-level", "info"] + list(extra), db=db)


def test_status_and_sync(args, workdir):
    pa, pb, padmin = grpc_common.free_port(), grpc_common.free_port(), grpc_common.free_port()
    a = node(args, workdir, "ops-a", pa, pb, ["--admin-listen", "http://127.0.0.1:%d" % padmin,
                                              "--admin-token", ADMIN_TOKEN])
    b = node(args, workdir, "ops-b", pb, pa)
    try:
        a.start([pa, padmin])
        b.start([pb])
        wait_ready(pa, a.proc)
        wait_ready(pb, b.proc)
        write_row(pa, "s1", "one")
        admin = Ctl(args.grovectl, padmin, ADMIN_TOKEN)
        out, _ = admin.run("sync")
        report = json.loads(out)
        check(len(report["peers"]) == 1, "one report: %r" % report)
        r = report["peers"][0]
        check(r["url"] == "http://127.0.0.1:%d/sync" % pb and r["error"] is None,
              "sync report: %r" % r)
        for key in ("pulled", "pushed", "merged", "conflicts", "duration_ms"):
            check(key in r, "sync report without %s: %r" % (key, r))
        wait_for("s1 on b", lambda: get_row(pb, "s1") == {"title": "one"})

        out, _ = admin.run("status")
        st = json.loads(out)
        check(st["node_id"] == "ops-a" and st["version"] and st["uptime_s"] >= 0, "status: %r" % st)
        check(st["tables"][0]["name"] == "documents" and
              {"name": "views", "type": "counter"} in st["tables"][0]["fields"],
              "tables: %r" % st["tables"])
        check(st["listeners"] == ["http://127.0.0.1:%d/sync" % pa], "listeners: %r" % st)
        check(st["admin_listener"] == "http://127.0.0.1:%d" % padmin, "admin listener: %r" % st)
        peer = st["peers"][0]
        check(peer["up"] is True and peer["node_id"] == "ops-b" and peer["transport"] == "http"
              and peer["last_success"] and peer["pending"] == 0
              and peer["stream"] in ("open", "connecting"), "peer status: %r" % peer)

        text = admin.on_terminal("status")
        check("node_id: ops-a" in text and "peers:\n  - url: http://127.0.0.1:%d/sync" % pb in text
              and "up: true" in text, "status on a terminal:\n" + text)

        # A named peer; one the node does not have; b's own admin API on its
        # data listener, with the data token (b has no admin token).
        out, _ = admin.run("sync", "http://127.0.0.1:%d/sync" % pb)
        check(len(json.loads(out)["peers"]) == 1, "named sync: %r" % out)
        _, err = admin.run("sync", "http://127.0.0.1:1/sync", expect=1)
        check("404" in err and "no peer" in err, "unknown peer: %r" % err)
        out, _ = Ctl(args.grovectl, pb, TOKEN).run("status")
        check(json.loads(out)["peers"][0]["node_id"] == "ops-a", "b's status: %r" % out)

        # Tokens: the admin API takes only the admin token where there is one;
        # the data token is known, but not an admin: 403.
        _, err = Ctl(args.grovectl, padmin, TOKEN).run("status", expect=1)
        check("403" in err, "data token on the admin API: %r" % err)
        _, err = Ctl(args.grovectl, pa, TOKEN).run("sync", expect=1)
        check("403" in err, "data token on a's data listener: %r" % err)
        Ctl(args.grovectl, pa, ADMIN_TOKEN).run("status")
        check(http(padmin, "GET", "/v1/status")[0] == 401, "no token")
        # The admin listener: health and the admin API only.
        check(http(padmin, "GET", "/readyz")[0] == 200, "admin listener /readyz")
        check(http(padmin, "GET", "/v1/tables/documents/rows/s1", ADMIN_TOKEN)[0] == 404,
              "the Data API on the admin listener")
        check(http(padmin, "POST", "/sync/pull", ADMIN_TOKEN, b"{}")[0] == 404,
              "the sync protocol on the admin listener")
        check(http(padmin, "POST", "/v1/status", ADMIN_TOKEN)[0] == 405, "POST /v1/status")
        check(http(padmin, "GET", "/v1/sync", ADMIN_TOKEN)[0] == 405, "GET /v1/sync")

        # A peer down: status says so, sync reports the error and exits 1.
        b.stop()
        out, _ = admin.run("sync", expect=1)
        check(json.loads(out)["peers"][0]["error"] == "EUNAVAIL" or
              json.loads(out)["peers"][0]["error"], "sync to a stopped peer: %r" % out)
        st = json.loads(admin.run("status")[0])
        check(st["peers"][0]["up"] is False and st["peers"][0]["last_error"],
              "peer down in status: %r" % st["peers"][0])
    finally:
        a.stop()
        b.stop()
    print("status and sync: ok")


def test_backup_restore(args, workdir):
    pa, pb = grpc_common.free_port(), grpc_common.free_port()
    a = node(args, workdir, "bk-a", pa, pb)
    b = node(args, workdir, "bk-b", pb, pa)
    copy = os.path.join(workdir, "bk-a-copy.db")
    written = []
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        try:
            while not stop.is_set():
                pk = "w%05d" % i
                write_row(pa, pk, "v%d" % i)
                written.append(pk)
                i += 1
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    try:
        a.start([pa])
        b.start([pb])
        wait_ready(pa, a.proc)
        wait_ready(pb, b.proc)
        for i in range(200):
            write_row(pa, "pre%03d" % i, "before")
        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)
        out, _ = Ctl(args.grovectl, pa, TOKEN).run("backup", copy)
        during = len(written)
        time.sleep(0.3)
        stop.set()
        t.join()
        check(not errors, "writes failed during the backup: %r" % errors)
        check(len(written) > during > 0, "writes went on during the backup (%d, %d)"
              % (during, len(written)))
        check(json.loads(out)["bytes"] == os.path.getsize(copy), "backup size: %r" % out)
        db = sqlite3.connect(copy)
        check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check")
        in_copy = db.execute("SELECT count(DISTINCT pk) FROM state").fetchone()[0]
        db.close()
        check(200 <= in_copy < 200 + len(written), "rows in the copy: %d" % in_copy)
        _, err = Ctl(args.grovectl, pa, TOKEN).run("backup", copy, expect=1)
        check("exists" in err.lower(), "backup onto an existing file: %r" % err)

        # Every acknowledged write reaches b; then a is lost and restored.
        last = written[-1]
        wait_for("the writes on b", lambda: get_row(pb, last) is not None, 30)
        a.kill()
        restored = node(args, workdir, "bk-a", pa, pb, db=copy)
        restored.start([pa])
        wait_ready(pa, restored.proc)
        # Ready means caught up: every write is there at once.
        status, body = http(pa, "GET", "/v1/tables/documents/rows?limit=10000", TOKEN)
        check(status == 200, "list: %d" % status)
        pks = {r["pk"] for r in json.loads(body)["rows"]}
        missing = [pk for pk in written if pk not in pks]
        check(not missing, "restored node misses %d writes (%s...)" % (len(missing), missing[:3]))
        st = json.loads(Ctl(args.grovectl, pa, TOKEN).run("status")[0])
        check(st["restored_from_backup"] is None, "restored mark cleared: %r" % st)
        log = open(os.path.join(workdir, "bk-a.log"), errors="replace").read()
        check("catching up before serving" in log and 'msg="caught up"' in log, "catch-up log")
        # It takes writes again, and they sync.
        write_row(pa, "after-restore", "yes")
        wait_for("after-restore on b", lambda: get_row(pb, "after-restore") == {"title": "yes"})
        restored.stop()
    finally:
        stop.set()
        a.stop()
        b.stop()
    print("backup and restore: ok (%d rows in the copy, %d written)" % (in_copy, len(written)))


def test_reload(args, workdir):
    port = grpc_common.free_port()
    conf = os.path.join(workdir, "reload.conf")
    log_path = os.path.join(workdir, "reload.log")

    def write_conf(lines):
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    base = ["node-id = reload", "db = " + os.path.join(workdir, "reload.db"),
            "listen = http://127.0.0.1:%d/sync" % port, "table = " + TABLE, "token = " + TOKEN]
    write_conf(base + ["log-level = info", "interval = 30"])
    log = open(log_path, "wb")
    proc = subprocess.Popen([args.groved, "--config", conf], stdout=log, stderr=log)
    try:
        wait_ready(port, proc)
        # An open watch (a stream) lives through both reloads.
        watch = urllib.request.Request("http://127.0.0.1:%d/v1/tables/documents/watch" % port)
        watch.add_header("Authorization", "Bearer " + TOKEN)
        stream = urllib.request.urlopen(watch, timeout=30)

        # The good file adds a peer (a live node) and a peer token: the syncer
        # is replaced, the listener and the watch stay.
        other_port = grpc_common.free_port()
        other = grpc_common.Groved(args.groved, workdir, "reload-peer",
                                   ["http://127.0.0.1:%d/sync" % other_port], [],
                                   ["--token", TOKEN, "--log-level", "info"])
        other.start([other_port])
        wait_ready(other_port, other.proc)
        write_conf(base + ["log-level = debug", "interval = 5",
                           "peer = http://127.0.0.1:%d/sync" % other_port,
                           "peer-token = " + TOKEN])
        proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: 'msg=reloaded' in open(log_path).read())
        text = open(log_path).read()
        check("log_level=0 interval_ms=5000 peers=1 peers_changed=true" in text,
              "reloaded values:\n" + text)
        write_row(port, "to-new-peer", "synced")
        wait_for("the write on the new peer", lambda: get_row(other_port, "to-new-peer") is not None)
        st = json.loads(http(port, "GET", "/v1/status", TOKEN)[1])
        check(st["peers"][0]["url"] == "http://127.0.0.1:%d/sync" % other_port and
              st["peers"][0]["node_id"] == "reload-peer", "status after the reload: %r" % st)
        other.stop()

        write_conf(base + ["log-level = loud", "peer = http://127.0.0.1:1/sync"])
        proc.send_signal(signal.SIGHUP)
        wait_for("the refusal", lambda: "reload refused" in open(log_path).read())
        text = open(log_path).read()
        check(re.search(r'reload refused.*error="%s:\d+: log-level' % re.escape(conf), text),
              "refusal names file:line:\n" + text)
        check(text.count('msg=reloaded') == 1, "a bad file applied nothing")
        write_conf(base + ["bogus-key = 1"])
        proc.send_signal(signal.SIGHUP)
        wait_for("the second refusal",
                 lambda: open(log_path).read().count("reload refused") == 2)
        check("unknown key" in open(log_path).read(), "unknown key named")

        # Still serving, the same listener, the stream still open.
        write_row(port, "r1", "after reloads")
        line = b""
        deadline = time.time() + 10
        while b"r1" not in line and time.time() < deadline:
            line = stream.readline()
        check(b"r1" in line, "the watch opened before the reloads sees r1")
        stream.close()
        check(proc.poll() is None, "groved still runs")

        # A new token: from the reload on, the old one is refused, the new one taken.
        new_token = "rotated-" + TOKEN
        write_conf([l for l in base if not l.startswith("token")] + ["token = " + new_token])
        reloads = open(log_path).read().count("identities reloaded")
        proc.send_signal(signal.SIGHUP)
        wait_for("the token reload",
                 lambda: open(log_path).read().count("identities reloaded") > reloads)
        path = "/v1/tables/documents/rows/r1"
        check(http(port, "GET", path, TOKEN)[0] == 401, "the old token still works")
        check(http(port, "GET", path, new_token)[0] == 200, "the new token is refused")
        check(new_token not in open(log_path).read(), "a token reached the log")

        # The last files name no peer: the removed peer's series are gone.
        status, raw = http(port, "GET", "/metrics", new_token)
        body = raw.decode()
        check(status == 200 and "grove_build_info" in body, "metrics: %r" % status)
        check("reload-peer" not in body and ":%d/sync" % other_port not in body,
              "a removed peer keeps its series:\n" + body)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        log.close()
    print("reload: ok")


def check_log_lines(path, json_format):
    lines = [l for l in open(path, errors="replace").read().splitlines() if l]
    check(len(lines) >= 4, "too few log lines in %s" % path)
    for l in lines:
        if json_format:
            try:
                event = json.loads(l)
            except ValueError:
                raise Failure("not JSON: %r" % l)
            check({"ts", "level", "msg"} <= set(event), "JSON event without ts/level/msg: %r" % l)
        else:
            check(LOGFMT_LINE.match(l), "not logfmt: %r" % l)
    return lines


def test_log_formats(args, workdir):
    for fmt in ("logfmt", "json"):
        pa, pb = grpc_common.free_port(), grpc_common.free_port()
        a = node(args, workdir, "log-%s-a" % fmt, pa, pb, ["--log-format", fmt,
                                                           "--log-level", "debug"])
        b = node(args, workdir, "log-%s-b" % fmt, pb, pa, ["--log-format", fmt])
        try:
            a.start([pa])
            b.start([pb])
            wait_ready(pa, a.proc)
            write_row(pa, "l1", 'quoted "title" with spaces = and \\ slash')
            check(http(pa, "GET", "/v1/tables/documents/rows/l1", "wrong-" + TOKEN)[0] == 401,
                  "a wrong token is refused")
            wait_for("l1 on b", lambda: get_row(pb, "l1") is not None)
            log_a = os.path.join(workdir, "log-%s-a.log" % fmt)
            wait_for("a's peer up", lambda: "peer up" in open(log_a, errors="replace").read())
            b.stop()  # a logs the peer down, with an error message
            time.sleep(1.5)
        finally:
            a.stop()
            b.stop()
        lines = check_log_lines(os.path.join(workdir, "log-%s-a.log" % fmt), fmt == "json")
        joined = "\n".join(lines)
        check(TOKEN not in joined, "a token reached the log")
        refused = [l for l in lines if ("msg=refused" in l or '"msg":"refused"' in l)]
        check(any("401" in l and "127.0.0.1:" in l for l in refused),
              "the refusal with its reason and peer: %r" % refused)
        check(any(("msg=served" in l or '"msg":"served"' in l) and "changes" in l for l in lines),
              "debug: requests served")
        check(any(("msg=request" in l or '"msg":"request"' in l) and "/v1/tables/documents" in l
                  and "duration_ms" in l for l in lines), "debug: Data API requests logged")
        for msg in ("listening", "ready", "peer up", "sync", "peer down", "shutting down"):
            bare = 'msg=%s' if " " not in msg else 'msg="%s"'
            check(('"msg":"%s"' if fmt == "json" else bare) % msg in joined,
                  "%s log without %s:\n%s" % (fmt, msg, joined))
        if fmt == "json":
            sync = [json.loads(l) for l in lines if json.loads(l)["msg"] == "sync"]
            check(isinstance(sync[0]["pulled"], int) and sync[0]["peer"].startswith("http://"),
                  "typed members: %r" % sync[0])
    print("log formats: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    ap.add_argument("--grovectl", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-ops-") as workdir:
        try:
            test_status_and_sync(args, workdir)
            test_backup_restore(args, workdir)
            test_reload(args, workdir)
            test_log_formats(args, workdir)
        except Failure as e:
            for name in sorted(os.listdir(workdir)):
                if name.endswith(".log"):
                    sys.stderr.write("---- %s\n%s\n" % (name, open(os.path.join(workdir, name),
                                                                     errors="replace").read()[-4000:]))
            sys.stderr.write("FAIL: %s\n" % e)
            return 1
    print("operations: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
