"""Starting, measuring and stopping the servers compare-etcd runs (etcd, cairnd, the null server).

Every server binds 127.0.0.1 on ports picked free at start, keeps its data under the run's
temporary directory, and is stopped by its own pid (SIGTERM, then SIGKILL after a grace period).
"""
import os
import signal
import socket
import subprocess
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    """A TCP port nobody listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process. `kind` is 'etcd', 'cairnd', 'null' or 'null-sync' (the null server
    doing one fdatasync per write into a zero-filled file under the run's directory)."""

    def __init__(self, kind, binary, workdir, bench):
        self.kind = kind
        self.binary = binary
        self.bench = bench
        self.data_dir = os.path.join(workdir, kind + ".data")
        self.log_path = os.path.join(workdir, kind + ".log")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc = None
        self._log = None

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.client_port

    def command(self):
        if self.kind == "null":
            return [self.binary, "--listen-client-urls", "http://" + self.endpoint]
        if self.kind == "null-sync":
            return [self.binary, "--listen-client-urls", "http://" + self.endpoint, "--sync-file", self.data_dir]
        client = "http://" + self.endpoint
        peer = "http://127.0.0.1:%d" % self.peer_port
        # The same etcd flags for both servers; each keeps its default durability
        # (WAL fsync'ed before a write is acknowledged).
        return [self.binary, "--name", "bench", "--data-dir", self.data_dir,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "bench=" + peer]

    def start(self, timeout=60):
        """Starts the process and waits until a linearizable Range succeeds.

        Returns the seconds from just before the process was spawned until that Range
        succeeded (the start-up time as a client sees it).
        """
        self._log = open(self.log_path, "ab")
        spawned_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        probe = subprocess.run([self.bench, "ready", "--endpoints", self.endpoint, "--json",
                                "--timeout", str(timeout)], capture_output=True, text=True)
        if probe.returncode != 0 or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s did not become ready: %s%s (log: %s)" % (
                self.kind, probe.stdout, probe.stderr, self.log_path))
        import json
        ready_ns = json.loads(probe.stdout)["ready_monotonic_ns"]
        return (ready_ns - spawned_ns) / 1e9

    def cpu_seconds(self):
        """User + system CPU seconds the server process has used so far (/proc/<pid>/stat)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            # The command name may hold spaces; fields after the closing ')' are fixed.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_bytes(self, field="VmRSS"):
        """A memory figure of the server process from /proc/<pid>/status: VmRSS (resident, including
        mapped file pages) or RssAnon (its private memory: heap, stacks)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def rss_bytes(self):
        return self.memory_bytes("VmRSS")

    def data_file_bytes(self):
        """Disk space taken by the key-value data file (etcd: member/snap/db; cairnd: member/db/data.mdb)."""
        rel = ("member", "snap", "db") if self.kind == "etcd" else ("member", "db", "data.mdb")
        try:
            return os.stat(os.path.join(self.data_dir, *rel)).st_blocks * 512
        except OSError:
            return None

    def stop(self, grace=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
