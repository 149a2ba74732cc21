"""Helpers for the TLS tests: certificates made with the openssl CLI in a temp dir, cairnd
processes on free loopback ports (killed at cleanup and at exit), etcdctl runs. Every wait is
bounded; the whole file is bounded by TLS_TEST_BUDGET_S (SIGALRM)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from loopback_ports import free_port  # noqa: E402,F401  (re-exported to the tests)
from server_process import ServerProcess, bound_run_time, member_command  # noqa: E402

ETCDCTL = "/usr/bin/etcdctl"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cairnd_path():
    for path in (os.environ.get("CAIRND"), os.path.join(REPO, "build", "bin", "cairnd")):
        if path and os.path.exists(path):
            return path
    print("SKIP: cairnd is not built (set CAIRND=<path>)")
    sys.exit(77)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certs(d):
    """ca.crt signs server/client; other-ca.crt signs other. Every leaf has SAN IP:127.0.0.1
    and both server and client usage, so one pair serves a member's listener and its dials."""
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                "-days", "2", "-subj", f"/CN={ca}", cwd=d)
    for name, ca in (("server", "ca"), ("client", "ca"), ("other", "other-ca")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", "san.cnf", cwd=d)


def etcdctl(endpoint, args, timeout=20):
    """(stdout, stderr, exit code) of one etcdctl 3.4 run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    r = subprocess.run([ETCDCTL, "--endpoints", endpoint, "--dial-timeout", "2s", "--command-timeout", "4s"]
                       + list(args), capture_output=True, env=env, timeout=timeout)
    return r.stdout.decode(), r.stderr.decode(), r.returncode


class Cairnd(ServerProcess):
    """One cairnd process. `flags` are appended to the URL flags."""

    STOP_TIMEOUT_S = 10

    def __init__(self, root, name, client_scheme="http", peer_scheme="http", flags=()):
        super().__init__(name, os.path.join(root, name + ".log"))
        self.root = root
        self.data_dir = os.path.join(root, name)
        self.client_port, self.peer_port = free_port(), free_port()
        self.client_url = f"{client_scheme}://127.0.0.1:{self.client_port}"
        self.peer_url = f"{peer_scheme}://127.0.0.1:{self.peer_port}"
        self.flags = list(flags)
        self.initial_cluster = f"{name}={self.peer_url}"

    def command(self):
        return member_command(cairnd_path(), self.name, self.data_dir, self.client_url,
                              self.peer_url, self.initial_cluster, self.flags)

    def start(self):
        """Starts the process without waiting for it to serve (see wait_ready)."""
        return self.spawn()

    def run_to_exit(self, timeout=15):
        """Runs cairnd expecting it to refuse to start: (exit code, output)."""
        r = subprocess.run(self.command(), capture_output=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).decode()

    def wait_ready(self, ctl_flags=(), timeout=30):
        """Waits until `etcdctl get` (with ctl_flags: the TLS files) succeeds."""
        return self.wait_until_serving(
            lambda: etcdctl(self.client_url, list(ctl_flags) + ["get", "ready-probe"])[2] == 0,
            timeout, interval=0.2)

    def log(self):
        """The log's last 3000 characters."""
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="cairn-tls-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def main():
    # Bound the whole file: a hung server or etcdctl must not hang ctest.
    bound_run_time(int(os.environ.get("TLS_TEST_BUDGET_S", "120")))
    unittest.main(verbosity=2)
