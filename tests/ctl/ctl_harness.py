"""Shared helpers for the cairnctl tests: servers on free loopback ports, running
cairnctl and etcdctl side by side, and normalising what legitimately differs.

Server kind comes from SERVER_KIND ('etcd' or 'cairnd'). For 'cairnd' the binary is
$CAIRND, else <repo>/build/bin/cairnd; when it does not exist the test exits 77, which
ctest reports as skipped.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from loopback_ports import free_port  # noqa: E402,F401  (re-exported to the tests)
from server_process import (ETCD_BIN as ETCD, ServerProcess, bound_run_time,  # noqa: E402
                            loopback_url, member_command)

ETCDCTL = "/usr/bin/etcdctl"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CMD_TIMEOUT_S = 20


def cairnctl_path():
    path = os.environ.get("CAIRNCTL") or os.path.join(REPO, "build", "bin", "cairnctl")
    if not os.path.exists(path):
        print(f"SKIP: cairnctl not built at {path}")
        sys.exit(77)
    return path


def server_binary():
    kind = os.environ.get("SERVER_KIND", "etcd")
    if kind == "etcd":
        return kind, ETCD
    for path in (os.environ.get("CAIRND"), os.path.join(REPO, "build", "bin", "cairnd")):
        if path and os.path.exists(path):
            return kind, path
    print("SKIP: cairnd is not built (set CAIRND=<path>)")
    sys.exit(77)


class Server(ServerProcess):
    """One server (etcd or cairnd; both take etcd's flag names), alone or in a cluster."""

    STOP_TIMEOUT_S = 10

    def __init__(self, kind, binary, root, dirname, name="node"):
        super().__init__(name, os.path.join(root, dirname + ".log"))
        self.kind, self.binary = kind, binary
        self.data_dir = os.path.join(root, dirname)
        self.client_port, self.peer_port = free_port(), free_port()
        self.scheme = "http"   # client URLs; "https" with TLS flags in `extra`
        self.extra = []        # additional server flags
        self.initial_cluster = None   # None: this member alone
        self.probe_flags = []         # etcdctl flags wait_ready's probe needs (TLS files)

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self):
        return member_command(self.binary, self.name, self.data_dir,
                              loopback_url(self.client_port, self.scheme), self.peer_url,
                              self.initial_cluster, self.extra)

    def start(self, timeout=20, initial_cluster=None, wait=True, probe_flags=()):
        self.initial_cluster = initial_cluster
        self.probe_flags = list(probe_flags)
        self.spawn()
        if not wait:
            return self
        return self.wait_ready(timeout)

    def wait_ready(self, timeout=20):
        """Waits until `etcdctl get` succeeds (with probe_flags)."""
        return self.wait_until_serving(self._answers_etcdctl, timeout, interval=0.2)

    def _answers_etcdctl(self):
        r = subprocess.run([ETCDCTL, "--endpoints", f"{self.scheme}://{self.endpoint}"]
                           + self.probe_flags + ["--dial-timeout", "1s",
                                                 "--command-timeout", "2s", "get", "ready-probe"],
                           capture_output=True, env=etcdctl_env(), timeout=10)
        return r.returncode == 0


def start_cluster(kind, binary, root, size=3):
    """A cluster of `size` members on free ports; returns the started Servers."""
    members = [Server(kind, binary, root, f"m{i}", name=f"m{i}") for i in range(size)]
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    for m in members:
        m.start(initial_cluster=initial, wait=False)
    for m in members:
        m.wait_ready()
    return members


def etcdctl_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ETCDCTL_") and not k.startswith("CAIRNCTL_")}
    env["ETCDCTL_API"] = "3"
    env.update(extra or {})
    return env


_ZAP_LINE = re.compile(r'^\{"level":.*\n?', re.M)


def run(binary, endpoint, args, stdin=b"", env=None, timeout=CMD_TIMEOUT_S):
    """Runs one CLI; returns (stdout, stderr-without-etcdctl-log-lines, exit code).
    endpoint None: no --endpoints flag (environment or default decides)."""
    cmd = [binary] + (["--endpoints", endpoint] if endpoint else []) + list(args)
    r = subprocess.run(cmd, input=stdin, capture_output=True, env=etcdctl_env(env),
                       timeout=timeout)
    err = _ZAP_LINE.sub("", r.stderr.decode("utf-8", "replace"))
    return r.stdout.decode("utf-8", "replace"), err, r.returncode


class Normaliser:
    """Replaces values that differ between two servers or two runs: member/cluster IDs,
    endpoint addresses, lease IDs, durations."""

    def __init__(self):
        self.subs = []

    def add(self, literal, placeholder):
        if literal:
            self.subs.append((str(literal), placeholder))

    def add_id(self, value, name):
        self.add(str(value), f"<{name}>")
        self.add(format(value, "x"), f"<{name}>")
        self.add(format(value, "016x"), f"<{name}>")

    def __call__(self, text):
        # Longest first so that a decimal ID is not half-replaced by a shorter one.
        for literal, placeholder in sorted(self.subs, key=lambda s: -len(s[0])):
            text = text.replace(literal, placeholder)
        text = re.sub(r"took = \S+", "took = <T>", text)
        text = re.sub(r'"took":"[^"]*"', '"took":"<T>"', text)
        text = re.sub(r'"Took" : \S+', '"Took" : <T>', text)
        # A lease's remaining time ticks between two runs.
        text = re.sub(r"remaining\(\d+s\)", "remaining(<N>s)", text)
        text = re.sub(r'"ttl":\d+', '"ttl":<N>', text)
        text = re.sub(r'"TTL" : \d+', '"TTL" : <N>', text)
        # Placeholders change column widths: compare tables modulo padding.
        lines = []
        for line in text.split("\n"):
            if line.startswith("|") or line.startswith("+"):
                line = re.sub(r"\| [0-9.]+(ns|\u00b5s|ms|s|m[0-9.]+s) \|", "| <T> |", line)
                line = re.sub(r"-+", "-", re.sub(r" +", " ", line))
            lines.append(line)
        return "\n".join(lines)


def ids_of(endpoint):
    """(cluster_id, member_id) of a server, read with etcdctl."""
    out, _, _ = run(ETCDCTL, endpoint, ["-w", "fields", "endpoint", "status"])
    cluster = int(re.search(r'"ClusterID" : (\d+)', out).group(1))
    member = int(re.search(r'"MemberID" : (\d+)', out).group(1))
    return cluster, member


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="cairnctl-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def reap(procs):
    """Kills the client tools a test started that are still running, and waits for every one."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


class OneServerTest(unittest.TestCase):
    """Base: one server (SERVER_KIND) for the whole class. Processes started with spawn() are
    killed when the class ends, before the server stops."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        kind, binary = server_binary()
        cls.server = Server(kind, binary, cls.tmp.__enter__(), "s").start()
        cls.procs = []

    @classmethod
    def tearDownClass(cls):
        reap(cls.procs)
        cls.server.stop()
        cls.tmp.__exit__(None, None, None)

    def spawn_tool(self, binary, *args):
        p = subprocess.Popen([binary, "--endpoints", self.server.endpoint] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=etcdctl_env())
        self.procs.append(p)
        return p


def main():
    # Bound the whole file: a hung server or CLI must not hang ctest.
    bound_run_time(int(os.environ.get("CTL_TEST_BUDGET_S", "240")))
    unittest.main(verbosity=2)
