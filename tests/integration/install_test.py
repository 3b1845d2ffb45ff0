#!/usr/bin/python3
"""`cmake --install` into a temporary prefix, and programs built against what it installed.

Checks that every file of the install is there (groved, grovectl, libgrove shared and static,
the public headers with grove/version.h, grove.pc, the CMake package, groved.service, the
sysusers file, the man pages), that the installed groved prints its version and tells a
NOTIFY_SOCKET READY=1 and STOPPING=1, and that the man pages render without warnings. Then
builds tests/integration/install_consumer/main.c (a node in a temporary directory, one row
written with grove_node_write and read back) with `pkg-config --cflags --libs grove`, and with
find_package(grove) against grove::grove and grove::grove_static, and runs each program.
The build directory must be built already (the suite builds every target).

usage: install_test.py --build-dir DIR --source-dir DIR --version V --cc CC --cmake CMAKE
                       [--cflags FLAGS] [--grovectl] [--systemd]
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

ROW = '{"tags":["red"],"title":"installed","views":3}'


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(argv, what, env=None, timeout=60):
    """Runs argv; its output, on failure, says why."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    check(proc.returncode == 0,
          f"{what} exited {proc.returncode}: {shlex.join(argv)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expect_files(prefix, args):
    libdirs = [d for d in glob.glob(os.path.join(prefix, "lib*")) if os.path.isdir(d)]
    libdir = next((d for d in libdirs if os.path.exists(os.path.join(d, "libgrove.so"))), None)
    check(libdir is not None, f"no libgrove.so under {prefix}/lib*")
    wanted = ["bin/groved",
              "include/grove/grove.h", "include/grove/node.h", "include/grove/data.h",
              "include/grove/transport_http.h", "include/grove/sys/transport.h",
              "include/grove/version.h",
              "lib/systemd/system/groved.service", "lib/sysusers.d/groved.conf",
              "share/man/man1/groved.1", "share/doc/groved/groved.conf.example"]
    if args.grovectl:
        wanted += ["bin/grovectl", "share/man/man1/grovectl.1"]
    rel_lib = os.path.relpath(libdir, prefix)
    wanted += [f"{rel_lib}/{f}" for f in
               ["libgrove.a", "pkgconfig/grove.pc", "cmake/grove/grove-config.cmake",
                "cmake/grove/grove-config-version.cmake", "cmake/grove/grove-targets.cmake",
                "cmake/grove/grove-static-targets.cmake"]]
    missing = [f for f in wanted if not os.path.exists(os.path.join(prefix, f))]
    check(not missing, f"not installed: {', '.join(missing)}")
    check(not os.path.exists(os.path.join(prefix, "include/grove/transport_faults.h")),
          "the fault-injecting shim's header is installed without its library")
    return libdir


def expect_unit(prefix, args):
    with open(os.path.join(prefix, "lib/systemd/system/groved.service")) as f:
        unit = f.read().splitlines()
    want = [f"Type={'notify' if args.systemd else 'simple'}",
            f"ExecStart={prefix}/bin/groved --config {prefix}/etc/groved/groved.conf",
            "User=groved", "StateDirectory=groved", "NoNewPrivileges=yes",
            "ProtectSystem=strict"]
    for line in want:
        check(line in unit, f"groved.service lacks {line!r}")
    left = [line for line in unit if re.search(r"@[A-Z_]+@", line)]
    check(not left, f"groved.service holds unreplaced variables: {left}")


def expect_groved(prefix, tmp, args):
    groved = os.path.join(prefix, "bin/groved")
    out = run([groved, "--version"], "groved --version")
    check(out == f"groved {args.version}\n", f"groved --version printed {out!r}")
    out = run([os.path.join(prefix, "bin/grovectl"), "--version"], "grovectl --version")
    check(out == f"grovectl {args.version}\n", f"grovectl --version printed {out!r}")
    if not args.systemd:
        return
    # The installed daemon under a NOTIFY_SOCKET, as systemd runs Type=notify.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(tmp, "notify"))
    notify.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify"))
    proc = subprocess.Popen([groved, "--node-id", "installed", "--db", os.path.join(tmp, "n.db"),
                             "--table", "documents",
                             "--listen", f"http://127.0.0.1:{free_port()}/sync"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        check(notify.recv(256) == b"READY=1", "groved's first notification is not READY=1")
        proc.send_signal(signal.SIGTERM)
        check(notify.recv(256) == b"STOPPING=1", "groved did not notify STOPPING=1 on SIGTERM")
        check(proc.wait(timeout=20) == 0, f"groved exited {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
        proc.stderr.close()


def expect_man_pages(prefix, args):
    if not shutil.which("groff"):
        return
    pages = ["groved.1"] + (["grovectl.1"] if args.grovectl else [])
    for page in pages:
        path = os.path.join(prefix, "share/man/man1", page)
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                              capture_output=True, text=True)
        check(proc.returncode == 0 and not proc.stderr, f"{page} renders with: {proc.stderr}")


def expect_consumer(binary, tmp, name, env=None):
    data = os.path.join(tmp, name)
    os.mkdir(data)
    out = run([binary, data, f"http://127.0.0.1:{free_port()}/sync"], name, env=env)
    check(out.splitlines()[-1:] == [ROW], f"{name} read back {out!r}, not {ROW}")
    return out


def build_with_pkg_config(prefix, libdir, tmp, args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
    version = run(["pkg-config", "--modversion", "grove"], "pkg-config --modversion", env=env)
    check(version.strip() == args.version, f"grove.pc says version {version.strip()}")
    flags = run(["pkg-config", "--cflags", "--libs", "grove"], "pkg-config", env=env).split()
    source = os.path.join(args.source_dir, "tests/integration/install_consumer/main.c")
    binary = os.path.join(tmp, "consumer_pkg_config")
    run([args.cc, *shlex.split(args.cflags), "-o", binary, source, *flags],
        "building the consumer with pkg-config")
    out = expect_consumer(binary, tmp, "pkg_config",
                          env=dict(os.environ, LD_LIBRARY_PATH=libdir))
    check(out.splitlines()[0] == f"groved {args.version}", f"consumer printed {out!r}")


def build_with_cmake(prefix, tmp, args):
    build = os.path.join(tmp, "cmake_consumer")
    run([args.cmake, "-S", os.path.join(args.source_dir, "tests/integration/install_consumer"),
         "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_C_COMPILER={args.cc}",
         f"-DCMAKE_C_FLAGS={args.cflags}"], "configuring the find_package(grove) consumer")
    run([args.cmake, "--build", build], "building the find_package(grove) consumer")
    # The shared one finds libgrove.so through the build tree's RPATH.
    expect_consumer(os.path.join(build, "install_consumer"), tmp, "cmake_shared")
    static = os.path.join(build, "install_consumer_static")
    expect_consumer(static, tmp, "cmake_static")
    needed = run(["ldd", static], "ldd")
    check("libgrove" not in needed, f"the static consumer still needs libgrove.so:\n{needed}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--cflags", default="")
    ap.add_argument("--grovectl", action="store_true", help="grovectl is built: expect it")
    ap.add_argument("--systemd", action="store_true", help="groved is built with sd_notify")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="grove-install-test-")
    try:
        prefix = os.path.join(tmp, "prefix")
        run([args.cmake, "--install", args.build_dir, "--prefix", prefix],
            "cmake --install (is every target built?)")
        libdir = expect_files(prefix, args)
        expect_unit(prefix, args)
        expect_groved(prefix, tmp, args)
        expect_man_pages(prefix, args)
        build_with_pkg_config(prefix, libdir, tmp, args)
        build_with_cmake(prefix, tmp, args)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("install: every file in place; groved --version and sd_notify; consumers built "
          "with pkg-config and find_package(grove) (shared and static) ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
