"""Process harness for Cairn's Python end-to-end tests (watches and leases).

Starts cairnd (the subject) and, where a test compares, Debian's etcd 3.4 (the
reference) on free 127.0.0.1 ports with data dirs in a temp dir; runs Debian's
etcdctl 3.4 against either; every process started here is killed at cleanup
and at interpreter exit, and every wait is bounded.

Subject binary: env CAIRND (a path; "etcd" runs the tests against etcd itself,
to check the tests), else env E2E_DEFAULT_CAIRND (set by ctest to the build
tree's cairnd), else /work/main/build/bin/cairnd. main() exits 77 (ctest
SKIP) when it is missing. Run with Debian's /usr/bin/python3 (python3-etcd3).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
import etcd3
import etcd3.etcdrpc as rpc  # noqa: F401  (re-exported to the cluster harness)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from loopback_ports import free_port  # noqa: E402,F401  (re-exported to the tests)
from grpc_calls import kv_answers  # noqa: E402
from server_process import ETCD_BIN, ServerProcess, loopback_url, member_command, track  # noqa: E402

ETCDCTL_BIN = "/usr/bin/etcdctl"
DEFAULT_CAIRND = "/work/main/build/bin/cairnd"
SKIP = 77


def _quiet_closed_watch_threads(args):
    # python3-etcd3's watch thread dies with "Channel closed" once its client closes.
    if args.thread is not None and args.thread.name.startswith("etcd3_watch"):
        return
    _default_excepthook(args)


_default_excepthook = threading.excepthook
threading.excepthook = _quiet_closed_watch_threads


def subject_path():
    env = os.environ.get("CAIRND", "")
    if env in ("etcd", ETCD_BIN):
        return ETCD_BIN
    return env or os.environ.get("E2E_DEFAULT_CAIRND") or DEFAULT_CAIRND


def main():
    path = subject_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        print(f"SKIP: cairnd not found at {path} (set CAIRND=<path>)")
        sys.exit(SKIP)
    print(f"subject: {path}", file=sys.stderr)
    unittest.main(verbosity=2)


class Server(ServerProcess):
    """One etcd-API server process; data dir and ports are kept across restarts.

    ANSWERING_CODES: gRPC codes that still count as "serving" for wait_ready (a subclass for a
    member with auth on adds INVALID_ARGUMENT, its answer to an anonymous Range)."""

    LOG_TAIL_LINES = 30
    ANSWERING_CODES = ()

    def __init__(self, binary, work_dir, name):
        super().__init__(name, os.path.join(work_dir, f"{name}.log"))
        self.binary = binary
        self.data_dir = os.path.join(work_dir, f"{name}.data")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.ready_at = None  # time.monotonic() when the last start() saw it answer

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    def command(self):
        return member_command(self.binary, self.name, self.data_dir, f"http://{self.endpoint}",
                              loopback_url(self.peer_port))

    def launch(self):
        """Starts the process without waiting for it to serve."""
        self.spawn()

    def wait_ready(self, timeout=20, probe_timeout=1):
        """Waits until a linearizable Range answers (on a cluster: a leader exists and caught up)."""
        self.wait_until_serving(
            lambda: kv_answers(self.endpoint, b"readiness-probe", probe_timeout, self.ANSWERING_CODES),
            timeout, interval=0.05, retry_on=(grpc.RpcError,))
        self.ready_at = time.monotonic()
        return self

    def start(self, timeout=20):
        self.launch()
        return self.wait_ready(timeout)

    def client(self, timeout=10):
        return etcd3.client(host="127.0.0.1", port=self.client_port, timeout=timeout)

    def channel(self):
        return grpc.insecure_channel(self.endpoint)


class E2eTest(unittest.TestCase):
    """Base: self.tmp is a fresh temp dir; self.server(kind) starts a server killed at cleanup."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cairn-e2e-py-")
        self.addCleanup(self._remove_tmp)

    def _remove_tmp(self):
        if not os.environ.get("E2E_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, kind="subject", name=None):
        binary = subject_path() if kind == "subject" else ETCD_BIN
        s = Server(binary, self.tmp, name or kind)
        self.addCleanup(s.kill)
        s.start()
        return s


# ----------------------------------------------------------------------------
# etcdctl

class Ctl:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"exit {self.rc}\nstdout: {self.out!r}\nstderr: {self.err!r}"


def etcdctl(server, *args, stdin="", timeout=20):
    cmd = [ETCDCTL_BIN, "--endpoints", server.endpoint, "--dial-timeout", "3s",
           "--command-timeout", "8s"] + list(args)
    try:
        p = subprocess.run(cmd, input=stdin.encode(), capture_output=True, timeout=timeout,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return Ctl(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        return Ctl("timeout", "", "")


class CtlStream:
    """A long-running etcdctl (watch, watch -i): lines are collected by a thread; stdin stays open."""

    def __init__(self, server, *args):
        cmd = [ETCDCTL_BIN, "--endpoints", server.endpoint, "--dial-timeout", "3s"] + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=dict(os.environ, ETCDCTL_API="3"))
        track(self.proc)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self._lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def wait_lines(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.lines) >= n:
                    return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        with self._lock:
            return len(self.lines) >= n

    def output(self):
        with self._lock:
            return list(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        err = self.proc.stderr.read().decode(errors="replace")
        return self.output(), err


# Lease IDs are random per server; printed in hex by etcdctl (and in decimal in JSON).
def normalise_ids(text, ids):
    """Replaces each lease id (int) in `ids` by <lease-N>, in hex and decimal forms."""
    for n, lease_id in enumerate(ids):
        text = text.replace(format(lease_id, "x"), f"<lease-{n}>")
        text = text.replace(str(lease_id), f"<lease-{n}>")
    return text


def normalise_header(text):
    text = re.sub(r'"(cluster_id|member_id|raft_term)":\d+', r'"\1":<id>', text)
    return text


def lease_id_from_grant(output):
    m = re.match(r"lease ([0-9a-f]+) granted with TTL\((\d+)s\)", output)
    if not m:
        raise AssertionError(f"unexpected lease grant output: {output!r}")
    return int(m.group(1), 16)
