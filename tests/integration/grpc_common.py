"""Shared helpers for the integration tests in Python (run with /usr/bin/python3,
whose Debian packages provide grpcio and protobuf).

Stubs are generated from proto/ at test time into a temporary directory,
with grpc_tools when installed, else protoc + grpc_python_plugin."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def generate_stubs(source_dir, out_dir):
    proto_dir = os.path.join(source_dir, "proto")
    proto = "grove/sync/v1/sync.proto"
    try:
        from grpc_tools import protoc  # noqa: F401

        cmd = [sys.executable, "-m", "grpc_tools.protoc"]
        plugin = []
    except ImportError:
        plugin_path = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
        cmd = ["protoc"]
        plugin = ["--plugin=protoc-gen-grpc_python=" + plugin_path]
    subprocess.run(cmd + plugin + ["-I" + proto_dir, "--python_out=" + out_dir,
                                   "--grpc_python_out=" + out_dir, proto], check=True)
    sys.path.insert(0, out_dir)
    from grove.sync.v1 import sync_pb2, sync_pb2_grpc
    return sync_pb2, sync_pb2_grpc


_given = set()  # ports handed out by this process, and their neighbours


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    """A free loopback port whose next port is free too (an nng listener
    publishes its stream there), neither handed out before by this process."""
    for _ in range(64):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and not ({port - 1, port, port + 1} & _given) and _bindable(port + 1):
            _given.update((port, port + 1))
            return port
    raise RuntimeError("no free pair of loopback ports")


def wait_port(port, proc, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("groved exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("groved did not listen on %d" % port)


class Groved:
    """One groved process; always stopped by stop() (SIGTERM, then SIGKILL)."""

    def __init__(self, groved, workdir, node_id, listens, peers=(), extra=(), db=None):
        self.args = [groved, "--node-id", node_id,
                     "--db", db or os.path.join(workdir, node_id + ".db"),
                     "--table", "documents:title=lww,meta=lww,views=counter,tags=set",
                     "--interval", "1", "--log-level", "warn"]
        for url in listens:
            self.args += ["--listen", url]
        for url in peers:
            self.args += ["--peer", url]
        self.args += list(extra)
        self.log = open(os.path.join(workdir, node_id + ".log"), "ab")
        self.proc = None

    def start(self, wait_ports=()):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        for p in wait_ports:
            wait_port(p, self.proc)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None


def http(port, method, path, token=None, body=None):
    """(status, body bytes) of one HTTP request to 127.0.0.1:port."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
