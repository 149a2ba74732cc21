"""Multi-member cairnd clusters for the cluster tests.

Builds on tests/e2e/e2e_harness.py (process bookkeeping, free ports, etcdctl): a Cluster starts
N cairnd members on 127.0.0.1 with one --initial-cluster, data dirs under a temp dir, and can
kill -9, restart, hang (SIGSTOP, then SIGCONT) and find the leader. Every process is killed at cleanup and at exit; every wait
is bounded.
"""

import os
import signal
import sys
import time
import urllib.error
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import e2e_harness  # noqa: E402
from e2e_harness import Server, free_port, rpc  # noqa: E402,F401
from server_process import loopback_url, member_command  # noqa: E402


class Member(Server):
    """One cluster member; `initial_cluster` is set by the Cluster before the first start."""

    initial_cluster = ""
    extra_flags = ()
    paused = False  # SIGSTOPped by pause() and not yet resumed: alive, but answers nothing

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics_port = free_port()

    def health(self):
        """(HTTP status, body) of /health."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/health", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def command(self):
        return member_command(self.binary, self.name, self.data_dir, f"http://{self.endpoint}",
                              loopback_url(self.peer_port), self.initial_cluster,
                              ["--heartbeat-interval", "100", "--election-timeout", "1000",
                               "--listen-metrics-urls", loopback_url(self.metrics_port)]
                              + list(self.extra_flags))

    def wait_ready(self, timeout=30):
        return super().wait_ready(timeout, probe_timeout=2)

    def start(self, timeout=30):
        return super().start(timeout)

    @property
    def pid(self):
        """The process id while it runs (paused or not), else None."""
        return self.proc.pid if self.running() else None

    def pause(self):
        """SIGSTOP: the member hangs, keeping its ports and connections, until resume()."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self):
        """kill -9 (a paused member too) and reap."""
        self.paused = False
        return super().kill()

    def status(self, timeout=2):
        with grpc.insecure_channel(self.endpoint) as ch:
            return rpc.MaintenanceStub(ch).Status(rpc.StatusRequest(), timeout=timeout)


class Cluster:
    def __init__(self, test, size=3, extra_flags=(), member_flags=None):
        """member_flags: {index: flags} added to that member's command line only."""
        binary = e2e_harness.subject_path()
        self.members = [Member(binary, test.tmp, f"m{i + 1}") for i in range(size)]
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for i, m in enumerate(self.members):
            m.initial_cluster = initial
            m.extra_flags = tuple(extra_flags) + tuple((member_flags or {}).get(i, ()))
            test.addCleanup(m.kill)
        for m in self.members:
            m.launch()
        for m in self.members:
            m.wait_ready()

    def running(self):
        return [m for m in self.members if m.running()]

    def answering(self):
        """The running members that are not paused."""
        return [m for m in self.members if m.running() and not m.paused]

    def leader(self, timeout=15):
        """The member every answering (running, not paused) member agrees leads (waits for one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = set()
            by_id = {}
            for m in self.answering():
                try:
                    st = m.status()
                    views.add(st.leader)
                    by_id[st.header.member_id] = m
                except grpc.RpcError:
                    views.add(None)
            if len(views) == 1 and None not in views and 0 not in views:
                lead = views.pop()
                if lead in by_id:
                    return by_id[lead]
            time.sleep(0.05)
        raise AssertionError("no agreed leader within %ss" % timeout)

    def followers(self):
        lead = self.leader()
        return [m for m in self.running() if m is not lead]


def member_change(member, *args, patience=20):
    """`etcdctl member <args>` against `member`, retried while refused "etcdserver: unhealthy
    cluster": with --strict-reconfig-check the leader must have heard every voter for 5 s before
    it adds one (and enough of them before it removes one), so a change right after a start, a
    restart or an election may be refused for a few seconds, as etcd's would be. Returns the last
    etcdctl result."""
    deadline = time.monotonic() + patience
    while True:
        result = e2e_harness.etcdctl(member, "member", *args)
        if "etcdserver: unhealthy cluster" not in result.err or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


class ClusterChecks:
    """Checks the cluster tests share; mixed into their E2eTest classes."""

    def member_id(self, member):
        return member.status().header.member_id

    def wait_hashes_agree(self, members, timeout=15):
        """Waits until every member reports one HashKV at the first member's revision."""
        deadline = time.monotonic() + timeout
        hashes = None
        while time.monotonic() < deadline:
            with members[0].channel() as ch:
                rev = rpc.KVStub(ch).Range(rpc.RangeRequest(key=b"x"), timeout=5).header.revision
            hashes = []
            for m in members:
                with m.channel() as ch:
                    try:
                        hashes.append(rpc.MaintenanceStub(ch).HashKV(rpc.HashKVRequest(revision=rev),
                                                                     timeout=5).hash)
                    except grpc.RpcError:
                        hashes.append(None)
            if None not in hashes and len(set(hashes)) == 1:
                return
            time.sleep(0.1)
        self.fail(f"members' HashKV differ: {hashes}")


def main():
    e2e_harness.main()
