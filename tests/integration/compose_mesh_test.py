#!/usr/bin/python3
"""Runs the mesh of docker-compose.yml as real groved processes on loopback.

No Docker engine is needed: each service's command line is taken from the
compose file as written, and the config file it names is the one the service
mounts (deploy/<node>.conf), with service host names mapped to 127.0.0.1 and
the container ports mapped to free local ports; its env_file is its
environment, as Docker would give it. A write on every node must reach every
other node, whatever transport each link uses.
"""
import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_common  # noqa: E402

CONTAINER_PORTS = (8080, 50051, 7070)  # HTTP, gRPC, nng


def free_port():
    """A free loopback port with its neighbour free too (nng publishes there)."""
    return grpc_common.free_port()


def rewrite(arg, ports, data_dir):
    """Maps node-x:PORT to 127.0.0.1:<free port of node-x's PORT>, /data to a temp dir."""
    for (host, port), local in ports.items():
        arg = arg.replace(f"{host}:{port}", f"127.0.0.1:{local}")
    return arg.replace("/data/", data_dir + "/")


def mounted_files(svc, source_dir):
    """Container path -> host path of the service's bind-mounted files."""
    files = {}
    for volume in svc.get("volumes", []):
        parts = volume.split(":")
        if parts[0].startswith("./"):
            files[parts[1]] = os.path.join(source_dir, parts[0])
    return files


def local_config(name, svc, argv, ports, data_dir, source_dir):
    """Rewrites the mounted config file that --config names for loopback; returns its path."""
    mounted = mounted_files(svc, source_dir)
    container_path = argv[argv.index("--config") + 1]
    with open(mounted[container_path]) as f:
        text = rewrite(f.read(), ports, data_dir)
    # A listener binds its own free port instead of the container's.
    for port in CONTAINER_PORTS:
        text = text.replace(f"0.0.0.0:{port}", f"127.0.0.1:{ports[(name, port)]}")
    path = os.path.join(data_dir, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def env_file(svc, source_dir):
    """The variables of the service's env_file (KEY=VALUE lines, # comments)."""
    env = {}
    if "env_file" in svc:
        with open(os.path.join(source_dir, svc["env_file"])) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    env[key.strip()] = value.strip()
    return env


def post(url, body, token):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def refused_without_token(services, ports, tokens):
    """The env_file's token is the one each node asks for: a pull without it is a 401."""
    for name in services:
        if not tokens[name]:
            continue
        url = f"http://127.0.0.1:{ports[(name, 8080)]}/sync/pull"
        try:
            post(url, {"tables": ["documents"], "node_id": "reader"}, None)
        except urllib.error.HTTPError as e:
            if e.code == 401:
                continue
            raise
        raise SystemExit(f"{name} answered a pull without its token")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--groved", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.source_dir, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    ports = {}
    for name in services:
        for port in CONTAINER_PORTS:
            ports[(name, port)] = free_port()
    procs = {}
    tokens = {}
    with tempfile.TemporaryDirectory() as data_dir:
        try:
            for name, svc in services.items():
                argv = shlex.split(svc["command"])
                argv[argv.index("--config") + 1] = local_config(
                    name, svc, argv, ports, data_dir, args.source_dir)
                # The environment overrides the file, as a deployment would.
                env = dict(os.environ, **env_file(svc, args.source_dir), GROVE_INTERVAL="1")
                tokens[name] = env.get("GROVE_TOKEN")
                log = open(os.path.join(data_dir, name + ".log"), "w")
                procs[name] = subprocess.Popen([args.groved] + argv, stderr=log, env=env)
            time.sleep(1.0)
            now = time.time_ns() // 1000 * 1000
            for i, name in enumerate(services):
                url = f"http://127.0.0.1:{ports[(name, 8080)]}/sync/push"
                change = {"table": "documents", "pk": f"from-{name}", "field": "title",
                          "crdt_type": "lww", "hlc": {"ts": now + i, "c": 0, "node": "client"},
                          "node_id": "client", "value": {"written_on": name}}
                for attempt in range(50):
                    try:
                        post(url, {"node_id": "client", "changes": [change]}, tokens[name])
                        break
                    except OSError:
                        time.sleep(0.1)
                else:
                    raise SystemExit(f"{name} never accepted a push")
            want = {f"from-{name}" for name in services}
            deadline = time.time() + 30
            missing = {}
            while time.time() < deadline:
                missing = {}
                for name in services:
                    url = f"http://127.0.0.1:{ports[(name, 8080)]}/sync/pull"
                    got = post(url, {"tables": ["documents"], "node_id": "reader"}, tokens[name])
                    have = {c["pk"] for c in got["changes"]}
                    if want - have:
                        missing[name] = sorted(want - have)
                if not missing:
                    refused_without_token(services, ports, tokens)
                    print(f"compose mesh converged: {len(services)} nodes, "
                          f"{len(want)} writes on every node")
                    return 0
                time.sleep(0.2)
            print(f"not converged after 30 s, missing: {missing}", file=sys.stderr)
            for name in services:
                with open(os.path.join(data_dir, name + ".log")) as f:
                    print(f"--- {name}\n{f.read()[-3000:]}", file=sys.stderr)
            return 1
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    sys.exit(main())
