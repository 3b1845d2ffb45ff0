#!/usr/bin/python3
"""Runs the mesh of docker-compose.yml as three hosts: one network namespace per node.

Each service's command line and the config file it mounts (deploy/<node>.conf) are used as
written; its env_file gives the tokens; the environment overrides only what a host would
differ in: GROVE_DB (the store, in a temporary directory) and GROVE_INTERVAL (1 s, so rounds
come often). The nodes' namespaces hang off a bridge in a namespace of the test's own (the
host's interfaces are never touched), and /etc/netns/<namespace>/hosts makes node-a, node-b
and node-c resolve to them, so every link dials its peer by the compose host name over its
own transport (HTTP, gRPC, nng).

Every request to a node goes to 127.0.0.1:8080 from a thread that entered that node's
namespace, so a node that is cut off from the others can still be written to. Steps: writes
on every node converge; node-c is cut off (its veth set down) while writes go on on both
sides, and the cut is checked to hold; the cut is healed and everything converges; node-b is
SIGKILLed under write load and restarted, and every acknowledged write converges, the
counter counted once. The time each convergence took is printed.

Needs root and `ip netns`; prints "skipped: ..." and exits with SKIP otherwise.
"""
import argparse
import atexit
import concurrent.futures
import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import yaml

from compose_mesh_test import env_file, mounted_files
from data_http import DataClient, DataError

SKIP = 77  # SKIP_RETURN_CODE in tests/integration/CMakeLists.txt
TIME_LIMIT = 240  # seconds for the whole test (SIGALRM), under CTest's TIMEOUT
CONVERGE_LIMIT = 60  # seconds one convergence may take
SUBNET = "10.77.0"  # only inside the test's namespaces
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def die_with_parent():
    """In a child before exec: SIGKILL when the test dies, even by SIGKILL itself."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def enter_netns(name):
    """Moves the calling thread (only) into the named network namespace."""
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


class Network:
    """A bridge in namespace <tag>-hub, one namespace per node joined to it by a veth pair."""

    def __init__(self, tag, nodes):
        self.hub = tag + "-hub"
        self.ns = {node: f"{tag}-{node}" for node in nodes}
        self.addr = {node: f"{SUBNET}.{i + 2}" for i, node in enumerate(nodes)}
        # The hub's end of each pair (15 characters at most).
        self.veth = {node: f"{tag[-10:]}{node[-1]}" for node in nodes}
        self.made = []  # namespaces to delete, /etc/netns dirs to remove
        self.made_etc_netns = not os.path.isdir("/etc/netns")

    def add_namespace(self, name):
        run("ip", "netns", "add", name)
        self.made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def build(self):
        self.add_namespace(self.hub)
        run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.hub, "addr", "add", SUBNET + ".1/24", "dev", "br0")
        run("ip", "-n", self.hub, "link", "set", "br0", "up")
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{addr} {node}\n" for node, addr in self.addr.items())
        for node, ns in self.ns.items():
            self.add_namespace(ns)
            os.makedirs("/etc/netns/" + ns)
            with open(f"/etc/netns/{ns}/hosts", "w") as f:
                f.write(hosts)
            run("ip", "-n", self.hub, "link", "add", self.veth[node], "type", "veth",
                "peer", "name", "eth0", "netns", ns)
            run("ip", "-n", self.hub, "link", "set", self.veth[node], "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", self.addr[node] + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def set_link(self, node, up):
        run("ip", "-n", self.hub, "link", "set", self.veth[node], "up" if up else "down")

    def remove(self):
        """Deleting a namespace deletes the veth ends and the bridge in it."""
        while self.made:
            name = self.made.pop()
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
            shutil.rmtree("/etc/netns/" + name, ignore_errors=True)
        if self.made_etc_netns:
            try:
                os.rmdir("/etc/netns")
            except OSError:  # another user of ip netns put something there meanwhile
                pass


def remove_stale(prefix):
    """Namespaces a killed earlier run of this test left (its pid is in their name)."""
    for entry in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        tag = entry.split("-")[0]
        if tag.startswith(prefix) and tag[len(prefix):].isdigit():
            if not os.path.exists("/proc/" + tag[len(prefix):]):
                subprocess.run(["ip", "netns", "del", entry], stderr=subprocess.DEVNULL)
                shutil.rmtree("/etc/netns/" + entry, ignore_errors=True)


class Node:
    """One groved in its namespace, and a thread there that makes its Data API calls."""

    def __init__(self, name, ns, argv, env, log_path):
        self.name, self.ns, self.argv, self.env, self.log_path = name, ns, argv, env, log_path
        self.proc = None
        self.agent = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=name, initializer=self._enter)
        self.client = None

    def _enter(self):
        enter_netns(self.ns)

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns] + self.argv,
                                         env=self.env, stdout=log, stderr=log,
                                         preexec_fn=die_with_parent)

    def call(self, fn, *args):
        """fn(DataClient, *args) on the node's thread, inside its namespace."""
        return self.agent.submit(self._call, fn, args).result()

    def _call(self, fn, args):
        if self.client is None:
            self.client = TokenClient(8080, self.env.get("GROVE_TOKEN"), timeout=10.0)
        try:
            return fn(self.client, *args)
        except OSError:
            self.client.close()
            raise

    def wait_ready(self, limit=30):
        deadline = time.monotonic() + limit
        answer = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                     + tail(self.log_path))
            try:
                answer = "HTTP %d" % self.call(lambda c: c.request("GET", "/readyz")[0])
                if answer == "HTTP 200":
                    return
            except OSError as e:
                answer = str(e)
            time.sleep(0.1)
        raise AssertionError(f"{self.name}'s /readyz: {answer} after {limit} s:\n"
                             + tail(self.log_path))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class TokenClient(DataClient):
    """A DataClient that sends the mesh's bearer token with every request."""

    def __init__(self, port, token, timeout):
        super().__init__(port, timeout)
        self.auth = {"Authorization": "Bearer " + token} if token else {}

    def request(self, method, path, body=None, headers=None):
        return super().request(method, path, body, dict(headers or {}, **self.auth))


def tail(path, size=3000):
    with open(path, errors="replace") as f:
        return f.read()[-size:]


def rows_with_prefix(client, prefix):
    """pk -> row of every visible row whose pk starts with prefix, page by page."""
    rows, after = {}, None
    while True:
        query = {"limit": 10000, "prefix": prefix}
        if after is not None:
            query["after"] = after
        status, body = client.request("GET", "/v1/tables/documents/rows?"
                                      + urllib.parse.urlencode(query))
        if status != 200:
            raise DataError(status, body)
        rows.update((r["pk"], r["row"]) for r in body["rows"])
        after = body["next"]
        if after is None:
            return rows


def write(client, node, pk, count):
    """One document row, and one increment of the shared counter when count is set."""
    client.patch("documents", pk, {"title": f"{node} wrote {pk}", "tags": {"add": [node]}})
    if count:
        client.patch("documents", "counter", {"views": 1})


class Writers:
    """A thread per node writing rows <phase>-<node>-<i> until stopped; each keeps the pks its
    node acknowledged. Failures (a node cut off from the test never fails: it is written
    from inside its namespace; a killed one does) are counted, not raised."""

    running = []  # stopped by the test's cleanup too

    def __init__(self, nodes, phase, count):
        Writers.running.append(self)
        self.stop_flag = threading.Event()
        self.acked = {node.name: [] for node in nodes}
        self.failed = {node.name: 0 for node in nodes}
        self.count = count
        self.threads = [threading.Thread(target=self._run, args=(node, phase), daemon=True)
                        for node in nodes]
        for t in self.threads:
            t.start()

    def _run(self, node, phase):
        i = 0
        while not self.stop_flag.is_set():
            pk = f"{phase}-{node.name}-{i}"
            i += 1
            try:
                node.call(write, node.name, pk, self.count)
                self.acked[node.name].append(pk)
            except RuntimeError:  # the node's thread is gone: the test is ending
                return
            except (OSError, DataError):
                self.failed[node.name] += 1
                time.sleep(0.05)
            time.sleep(0.005)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
        return {pk for pks in self.acked.values() for pk in pks}


def snapshot(nodes, prefix):
    """Each node's rows under prefix and its shared counter's views."""
    out = {}
    for node in nodes:
        counter = node.call(lambda c: c.get("documents", "counter"))
        out[node.name] = (node.call(rows_with_prefix, prefix), (counter or {}).get("views"))
    return out


def converge(nodes, prefix, want_pks, want_views, what):
    """Waits until every node holds the same rows under prefix, want_pks among them, and the
    counter at want_views; prints how long it took."""
    start = time.monotonic()
    problem = "not checked"
    while time.monotonic() - start < CONVERGE_LIMIT:
        snap = snapshot(nodes, prefix)
        first_rows, _ = snap[nodes[0].name]
        problem = None
        for name, (rows, views) in snap.items():
            missing = want_pks - rows.keys()
            if missing:
                problem = f"{name} misses {len(missing)} rows, e.g. {sorted(missing)[:3]}"
            elif rows != first_rows:
                problem = f"{name}'s rows differ from {nodes[0].name}'s"
            elif views != want_views:
                problem = f"{name}'s counter is {views}, not {want_views}"
            if problem:
                break
        if not problem:
            print(f"{what}: converged in {time.monotonic() - start:.2f} s "
                  f"({len(first_rows)} rows, counter {want_views}, {len(nodes)} nodes)")
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not converged in {CONVERGE_LIMIT} s: {problem}")


def mesh_nodes(source_dir, groved, net, data_dir):
    """The compose file's services as Nodes: their command line, config file and env_file
    as written, plus GROVE_DB and GROVE_INTERVAL."""
    with open(os.path.join(source_dir, "docker-compose.yml")) as f:
        services = yaml.safe_load(f)["services"]
    nodes = []
    for name, svc in services.items():
        argv = shlex.split(svc["command"])
        container_path = argv[argv.index("--config") + 1]
        argv[argv.index("--config") + 1] = mounted_files(svc, source_dir)[container_path]
        env = dict(os.environ, **env_file(svc, source_dir),
                   GROVE_DB=os.path.join(data_dir, name + ".db"), GROVE_INTERVAL="1")
        nodes.append(Node(name, net.ns[name], [groved] + argv, env,
                          os.path.join(data_dir, name + ".log")))
    return nodes


def check_cut_holds(nodes, cut, acked_by):
    """During the cut: the cut-off node has none of the others' new rows, nor they its."""
    for node in nodes:
        have = node.call(rows_with_prefix, "p2-").keys()
        for writer, pks in acked_by.items():
            across = [pk for pk in pks if pk in have]
            if (node.name == cut) != (writer == cut) and across:
                raise AssertionError(f"{node.name} got {across[0]} across the cut")


def scenario(nodes, net):
    names = [n.name for n in nodes]
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()
    print("nodes ready:", ", ".join(f"{n} at {net.addr[n]}" for n in names))

    # 1. Writes on every node reach every node.
    pks = set()
    for node in nodes:
        for i in range(20):
            pk = f"p1-{node.name}-{i}"
            node.call(write, node.name, pk, True)
            pks.add(pk)
    views = len(pks)
    converge(nodes, "p1-", pks, views, "writes on every node")

    # 2. node-c cut off while all three are written to; then healed.
    cut = names[2]
    net.set_link(cut, False)
    writers = Writers(nodes, "p2", count=True)
    time.sleep(5)
    acked = writers.stop()
    if sum(writers.failed.values()):
        raise AssertionError(f"writes failed during the cut: {writers.failed}")
    time.sleep(2)  # rounds enough to cross a link that was not cut
    check_cut_holds(nodes, cut, writers.acked)
    rest = [n for n in nodes if n.name != cut]
    rest_pks = {pk for n in rest for pk in writers.acked[n.name]}
    converge(rest, "p2-", rest_pks, views + len(rest_pks),
             f"{' and '.join(n.name for n in rest)} during the cut")
    views += len(acked)
    net.set_link(cut, True)
    own = len(acked) - len(rest_pks)
    converge(nodes, "p2-", acked, views,
             f"{cut} cut off during {len(acked)} writes ({own} its own), healed")

    # 3. node-b SIGKILLed under write load and restarted.
    victim = nodes[1]
    writers = Writers(nodes, "p3", count=False)
    time.sleep(2)
    victim.stop(signal.SIGKILL)
    time.sleep(2)
    victim.start()
    victim.wait_ready()
    time.sleep(2)
    acked = writers.stop()
    print(f"{victim.name} killed and restarted under load: {len(acked)} writes acknowledged, "
          f"{sum(writers.failed.values())} refused or cut while it was down")
    converge(nodes, "p3-", acked, views, f"{victim.name} SIGKILLed and restarted")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: network namespaces need root")
        return SKIP
    if shutil.which("ip") is None:
        print("skipped: no ip command (iproute2)")
        return SKIP
    tag = f"gmesh{os.getpid()}"
    remove_stale("gmesh")
    probe = subprocess.run(["ip", "netns", "add", tag + "-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        print("skipped: ip netns add failed:", probe.stderr.strip())
        return SKIP
    subprocess.run(["ip", "netns", "del", tag + "-probe"])

    net = Network(tag, ["node-a", "node-b", "node-c"])
    nodes = []
    data_dir = tempfile.mkdtemp(prefix="netns_mesh.")
    done = []

    def cleanup():
        if done:
            return
        done.append(True)
        for writers in Writers.running:
            writers.stop_flag.set()
        for node in nodes:
            node.stop()
            node.agent.shutdown(wait=False)
        net.remove()
        shutil.rmtree(data_dir, ignore_errors=True)

    def give_up(signum, frame):
        if signum == signal.SIGALRM:
            raise SystemExit(f"FAILED: over the time limit of {TIME_LIMIT} s")
        raise SystemExit(f"stopped by {signal.Signals(signum).name}")

    atexit.register(cleanup)
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, give_up)
    signal.alarm(TIME_LIMIT)
    try:
        net.build()
        nodes.extend(mesh_nodes(args.source_dir, args.groved, net, data_dir))
        scenario(nodes, net)
        print("netns mesh: every step converged")
        return 0
    except AssertionError as e:
        print("FAILED:", e, file=sys.stderr)
        for node in nodes:
            print(f"--- {node.name}\n{tail(node.log_path)}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
