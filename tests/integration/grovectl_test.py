#!/usr/bin/python3
"""grovectl against a real groved, through its HTTP and its gRPC listener:
set/get, counters (+5 then +2 reads 7), sets (add three, remove one), delete
then get (exit 1), a pk with '/', spaces and UTF-8, a list of 2,500 rows in
pages, a watch that prints an event written by another grovectl and resumes
from a cursor, usage errors (exit 2), refused requests and a bad token (exit
1 with the server's message), --help everywhere, GROVE_NODE/GROVE_TOKEN, and
aligned text on a terminal.

usage: grovectl_test.py --groved PATH --grovectl PATH [--no-grpc]
"""
import argparse
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402  (Groved, free_port, wait_port: no grpc import)

TOKEN = "ctl-s3cret"
COMMANDS = ["set", "incr", "add", "remove", "delete", "get", "list", "watch"]
BULK_ROWS = 2500


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Ctl:
    """Runs grovectl against one node URL with the token."""

    def __init__(self, exe, url, token=TOKEN):
        self.exe = exe
        self.url = url
        self.token = token

    def argv(self, args, node=True):
        base = [self.exe]
        if node:
            base += ["--node", self.url]
            if self.token is not None:
                base += ["--token", self.token]
        return base + list(args)

    def run(self, *args, expect=0, env=None, node=True):
        p = subprocess.run(self.argv(args, node), capture_output=True, timeout=60, env=env,
                           stdin=subprocess.DEVNULL)
        out, err = p.stdout.decode(), p.stderr.decode()
        check(p.returncode == expect, "grovectl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
              % (" ".join(args), p.returncode, expect, out, err))
        if expect:
            check(err.startswith("grovectl: "), "stderr without the prefix: %r" % err)
        return out, err

    def row(self, table, pk):
        out, _ = self.run("get", table, pk)
        lines = out.splitlines()
        check(len(lines) == 1, "get printed %d lines: %r" % (len(lines), out))
        return json.loads(lines[0])


def bulk_write(http_port, prefix, count):
    """The rows for the list test, in one bulk POST of the HTTP surface."""
    pks = ["%s%05d" % (prefix, i) for i in range(count)]
    rows = [{"pk": pk, "fields": {"title": "row " + pk}} for pk in pks]
    req = urllib.request.Request(
        "http://127.0.0.1:%d/v1/tables/documents/rows" % http_port,
        data=json.dumps({"rows": rows}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=60) as resp:
        check(resp.status == 200, "bulk write: HTTP %d" % resp.status)


def check_rows_and_fields(ctl, tag):
    pk = tag + "-doc"
    out, _ = ctl.run("set", "documents", pk, 'title="Hello"', 'meta={"a":[1, 2.50]}')
    check(json.loads(out) == {"title": "Hello", "meta": {"a": [1, 2.5]}}, "set printed %r" % out)
    got, _ = ctl.run("get", "documents", pk)
    check('"meta":{"a":[1, 2.50]}' in got, "an LWW value comes back byte-exact: %r" % got)

    ctl.run("incr", "documents", pk, "views", "5")
    ctl.run("incr", "documents", pk, "views", "2")
    check(ctl.row("documents", pk)["views"] == 7, "+5 then +2 reads 7")
    ctl.run("incr", "documents", pk, "views")
    ctl.run("incr", "documents", pk, "views", "-3")
    check(ctl.row("documents", pk)["views"] == 5, "incr (1) then -3 reads 5")

    ctl.run("add", "documents", pk, "tags", '"red"', '"green"', '{"k":1}')
    ctl.run("remove", "documents", pk, "tags", '"green"')
    row = ctl.row("documents", pk)
    check(row["tags"] == ["red", {"k": 1}], "add three, remove one: %r" % row)

    odd = tag + "/a b é?#%"
    ctl.run("set", "documents", odd, "title=1")
    check(ctl.row("documents", odd) == {"title": 1}, "a pk with / ? # % spaces and UTF-8")

    ctl.run("delete", "documents", pk)
    _, err = ctl.run("get", "documents", pk, expect=1)
    check("404" in err or "NOT_FOUND" in err, "get after delete: %r" % err)
    ctl.run("set", "documents", pk, 'title="back"')
    check(ctl.row("documents", pk) == {"title": "back"}, "a write revives a deleted row")


def check_list(ctl, prefix):
    out, _ = ctl.run("list", "documents", "--prefix", prefix)
    lines = out.splitlines()
    check(len(lines) == BULK_ROWS, "list printed %d rows, expected %d" % (len(lines), BULK_ROWS))
    pks = [json.loads(line)["pk"] for line in lines]
    check(pks == ["%s%05d" % (prefix, i) for i in range(BULK_ROWS)], "list in pk order, once each")
    first = json.loads(lines[0])
    check(first["row"] == {"title": "row %s00000" % prefix}, "list row: %r" % first)
    out, _ = ctl.run("list", "documents", "--prefix", prefix, "--limit", "1234")
    check(len(out.splitlines()) == 1234, "--limit 1234 printed %d" % len(out.splitlines()))
    out, _ = ctl.run("list", "documents", "--prefix=" + prefix + "0000", "--limit=5")
    check([json.loads(x)["pk"] for x in out.splitlines()] ==
          ["%s%05d" % (prefix, i) for i in range(5)], "prefix and limit with '='")


class Watch:
    """grovectl watch in the background, its lines read with a timeout."""

    def __init__(self, ctl, *args):
        self.proc = subprocess.Popen(ctl.argv(["watch", "documents"] + list(args)),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.buf = b""

    def line(self, timeout):
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check_watch(ctl, other, tag):
    prefix = tag + "-w-"
    watch = Watch(ctl, "--prefix", prefix)
    try:
        # A watch goes on from when it is opened: write until it shows (it
        # may not be listening yet for the first write).
        first = None
        for attempt in range(20):
            other.run("set", "documents", prefix + "1", 'title="seen %d"' % attempt)
            first = watch.line(1.0)
            if first:
                break
        check(first is not None, "the watch printed no event: %s" %
              (watch.proc.stderr.read().decode() if watch.proc.poll() is not None else ""))
        check(first["pk"] == prefix + "1" and first["deleted"] is False and
              first["row"]["title"].startswith("seen"), "event %r" % first)
        check(first["cursor"], "an event carries its cursor")
        other.run("set", "documents", tag + "-elsewhere", "title=0")  # outside the prefix
        other.run("delete", "documents", prefix + "1")
        event = watch.line(10)
        while event and event["pk"] == prefix + "1" and not event["deleted"]:
            event = watch.line(10)  # a write of a retry round that showed late
        check(event == {"pk": prefix + "1", "row": None, "deleted": True,
                        "cursor": event and event["cursor"]}, "delete event %r" % event)
        rc = watch.interrupt()
        check(rc == 0, "watch after SIGINT exited %r: %s" % (rc, watch.proc.stderr.read()))
    finally:
        watch.kill()
    # Resumed from the first event's cursor: what came after it, not it again.
    resumed = Watch(ctl, "--prefix", prefix, "--since", first["cursor"])
    try:
        events = []
        event = resumed.line(10)
        while event:
            events.append(event)
            if event["deleted"]:
                break
            event = resumed.line(10)
        check(events and events[-1]["deleted"] and
              all(e["cursor"] != first["cursor"] for e in events),
              "watch --since %s printed %r" % (first["cursor"], events))
        check(resumed.interrupt() == 0, "resumed watch after SIGINT")
    finally:
        resumed.kill()


def check_errors(ctl, exe, tag):
    pk = tag + "-bad"
    _, err = ctl.run("set", "documents", pk, "title=Hello", expect=2)
    check("title=Hello" in err, "a JSON argument that does not parse is named: %r" % err)
    _, err = ctl.run("add", "documents", pk, "tags", '"ok"', "[1,", expect=2)
    check("[1," in err, "a bad element is named: %r" % err)
    for args in (["incr", "documents", pk, "views", "x"], ["incr", "documents", pk, "views", "1.5"],
                 ["set", "documents", pk], ["set", "documents", pk, "=1"],
                 ["get", "documents"], ["get", "documents", pk, "extra"], ["frobnicate"],
                 ["list", "documents", "--limit", "0"], ["list", "documents", "--since", "1"],
                 ["get", "documents", pk, "--bogus"], ["--bogus", "get", "a", "b"], [],
                 ["watch"], ["list", "documents", "--prefix"]):
        ctl.run(*args, expect=2)
    ctl.run("get", "documents", pk, expect=1)  # none of them wrote anything
    Ctl(exe, "ftp://127.0.0.1:1").run("get", "documents", pk, expect=2)

    _, err = ctl.run("set", "secrets", pk, "a=1", expect=1)
    check("403" in err or "PERMISSION_DENIED" in err, "undeclared table: %r" % err)
    _, err = ctl.run("set", "documents", pk, 'views="seven"', expect=1)
    check("declared counter, written as lww" in err, "a string for a counter: %r" % err)
    # The same refusal on both: gRPC carries the kind of write, and over HTTP
    # (whose body cannot: an integer is an LWW value or a delta as the table
    # declares) the client checks it against GET /v1/tables/{table}.
    _, err = ctl.run("incr", "documents", pk, "title", expect=1)
    check("declared lww, written as counter" in err, "a counter op on an LWW field: %r" % err)
    _, err = ctl.run("set", "documents", pk, "views=5", expect=1)
    check("declared counter, written as lww" in err, "an LWW write to a counter: %r" % err)
    ctl.run("get", "documents", pk, expect=1)

    for token in ("wrong-token", None):
        _, err = Ctl(exe, ctl.url, token).run("get", "documents", tag + "-doc", expect=1)
        check("401" in err or "UNAUTHENTICATED" in err, "token %r: %r" % (token, err))
        check(ctl.url in err, "the message names the node: %r" % err)
    Ctl(exe, ctl.url, "wrong-token").run("set", "documents", pk, "title=2", expect=1)
    ctl.run("get", "documents", pk, expect=1)


def check_help(ctl):
    out, _ = ctl.run("--help", node=False)
    check(out.startswith("usage: grovectl") and all(c in out for c in COMMANDS), "grovectl --help")
    for c in COMMANDS:
        out, _ = ctl.run(c, "--help", node=False)
        check(out.startswith("usage: grovectl") and (" %s " % c) in out, "%s --help: %r" % (c, out))


def check_environment(ctl, tag):
    env = dict(os.environ, GROVE_NODE=ctl.url, GROVE_TOKEN=TOKEN)
    out, _ = ctl.run("get", "documents", tag + "-doc", env=env, node=False)
    check(json.loads(out) == {"title": "back"}, "GROVE_NODE and GROVE_TOKEN: %r" % out)


def check_terminal(ctl, tag):
    """On a terminal: one field per line, names aligned."""
    pk = tag + "-tty"
    ctl.run("set", "documents", pk, 'title="Hi"', "meta=[1]")
    ctl.run("incr", "documents", pk, "views", "12")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ctl.exe, ctl.argv(["get", "documents", pk]))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    lines = out.decode().replace("\r", "").splitlines()
    check(os.WEXITSTATUS(status) == 0, "get on a terminal exited %d" % os.WEXITSTATUS(status))
    check(lines == ["meta   [1]", 'title  "Hi"', "views  12"], "text output %r" % lines)


def run(args, work):
    http_port, grpc_port = grpc_common.free_port(), grpc_common.free_port()
    listens = ["http://127.0.0.1:%d/sync" % http_port]
    if args.grpc:
        listens.append("grpc://127.0.0.1:%d" % grpc_port)
    node = grpc_common.Groved(args.groved, work, "ctl", listens, extra=["--token", TOKEN])
    try:
        node.start(wait_ports=[http_port] + ([grpc_port] if args.grpc else []))
        # The HTTP surface is at the root of the listener's address, whatever
        # path the URL names.
        urls = {"http": "http://127.0.0.1:%d" % http_port}
        if args.grpc:
            urls["grpc"] = "grpc://127.0.0.1:%d" % grpc_port
        bulk_write(http_port, "bulk-", BULK_ROWS)
        check_help(Ctl(args.grovectl, urls["http"]))
        for tag, url in urls.items():
            ctl = Ctl(args.grovectl, url)
            check_rows_and_fields(ctl, tag)
            check_list(ctl, "bulk-")
            # The watch sees a write made through the other surface too.
            other = Ctl(args.grovectl, urls["grpc" if tag == "http" and args.grpc else "http"])
            check_watch(ctl, other, tag)
            check_errors(ctl, args.grovectl, tag)
            check_environment(ctl, tag)
            check_terminal(ctl, tag)
            print("grovectl_test: %s OK" % url)
        Ctl(args.grovectl, urls["http"] + "/sync").run("get", "documents", "http-doc")
    finally:
        rc = node.stop()
    check(rc == 0, "groved exited with %s" % rc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groved", required=True)
    ap.add_argument("--grovectl", required=True)
    ap.add_argument("--no-grpc", dest="grpc", action="store_false")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="grove-grovectl-it-") as work:
        try:
            run(args, work)
        except Failure as e:
            log = os.path.join(work, "ctl.log")
            if os.path.exists(log):
                sys.stderr.write("--- groved log ---\n" + open(log).read()[-4000:])
            sys.stderr.write("grovectl_test: FAILED: %s\n" % e)
            sys.exit(1)
    print("grovectl_test: OK")


if __name__ == "__main__":
    main()
