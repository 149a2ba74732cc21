"""etcd's corruption checks on a three-member cairnd cluster.

A follower's store is made to diverge while it is stopped (tests/cluster/corrupt_value.cc flips a
letter of one stored value in place, revisions untouched). Then:
  - with --experimental-initial-corrupt-check it refuses to start and names a peer;
  - without it, it starts, and the leader (--experimental-corrupt-check-time) raises CORRUPT for
    it: `etcdctl alarm list` shows it and puts fail with "etcdserver: corrupt cluster";
  - a healthy cluster with both checks on raises nothing while writes flow, and restarts fine.

Run with Debian's /usr/bin/python3. Needs the subject cairnd and the corrupt tool (env
CAIRN_CORRUPT_TOOL, set by ctest); skips (77) without them. Every wait is bounded.
"""

import os
import re
import subprocess
import sys
import threading
import time

import grpc

from cluster_harness import Cluster, ClusterChecks, rpc
import e2e_harness
from e2e_harness import E2eTest, etcdctl

CORRUPT = "etcdserver: corrupt cluster"
MARKER = "cairn-corrupt-marker"
TOOL = os.environ.get("CAIRN_CORRUPT_TOOL", "")


def alarm_lines(member):
    r = etcdctl(member, "alarm", "list")
    assert r.rc == 0, r
    return [line.strip() for line in r.out.splitlines() if line.strip()]


class CorruptionCheckTest(E2eTest, ClusterChecks):

    def put(self, member, key, value):
        with member.channel() as ch:
            rpc.KVStub(ch).Put(rpc.PutRequest(key=key.encode(), value=value.encode()), timeout=10)

    def corrupt_stopped_member(self, member):
        self.assertIsNotNone(member.stop(), f"{member.name} did not stop cleanly")
        r = subprocess.run([TOOL, os.path.join(member.data_dir, "member", "db"), MARKER],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def wait_exit(self, member, timeout=30):
        try:
            return member.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{member.name} still running after {timeout}s:\n{member.log_tail()}")

    def ensure_not_leader(self, cluster, member):
        lead = cluster.leader()
        if lead is not member:
            return
        other = next(m for m in cluster.members if m is not member)
        r = etcdctl(member, "move-leader", "%x" % self.member_id(other))
        self.assertEqual(r.rc, 0, r)
        self.assertIsNot(cluster.leader(), member)

    def test_diverged_member_is_refused_at_start_and_alarmed_by_the_leader(self):
        c = Cluster(self, extra_flags=("--experimental-corrupt-check-time", "1s"))
        lead = c.leader()
        self.put(lead, "victim", "value " + MARKER)
        for i in range(5):
            self.put(lead, f"k{i}", f"v{i}")
        self.wait_hashes_agree(c.members)
        time.sleep(2.5)  # two periodic checks on the healthy cluster
        self.assertEqual(alarm_lines(lead), [], "a healthy cluster raised an alarm")

        victim = c.followers()[0]
        victim_id = self.member_id(victim)
        peers = [m for m in c.members if m is not victim]
        peer_ids = {"%x" % self.member_id(m) for m in peers}
        self.corrupt_stopped_member(victim)

        # (a) The start-up check refuses, naming a peer and both hashes.
        base_flags = victim.extra_flags
        victim.extra_flags = base_flags + ("--experimental-initial-corrupt-check",)
        victim.launch()
        self.assertNotEqual(self.wait_exit(victim), 0)
        log = victim.log_tail(60)
        self.assertIn("found data inconsistency with peers", log)
        named = set(re.findall(r"peer ([0-9a-f]+) has hash \d+, this member \d+", log))
        self.assertTrue(named and named <= peer_ids, f"peers named: {named}, expected some of {peer_ids}\n{log}")
        self.assertNotIn("serving clients", log.split("initial corruption check")[-1])

        # (b) Without it the member starts; the leader finds it and raises CORRUPT for it.
        victim.extra_flags = base_flags
        victim.start()
        self.ensure_not_leader(c, victim)
        want = f"memberID:{victim_id} alarm:CORRUPT"
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            lines = alarm_lines(peers[0])
            if want in lines:
                break
            time.sleep(0.2)
        self.assertEqual(lines, [want])
        for m in c.members:
            r = etcdctl(m, "put", "after", "x")
            self.assertNotEqual(r.rc, 0, f"{m.name}: {r}")
            self.assertIn(CORRUPT, r.err, f"{m.name}: {r}")

    def test_healthy_cluster_with_both_checks_raises_nothing_while_writes_flow(self):
        c = Cluster(self, extra_flags=("--experimental-corrupt-check-time", "200ms",
                                       "--experimental-initial-corrupt-check"))
        stop = threading.Event()
        written = [0]
        errors = []

        def writer(member, prefix):
            with member.channel() as ch:
                kv = rpc.KVStub(ch)
                i = 0
                while not stop.is_set():
                    try:
                        kv.Put(rpc.PutRequest(key=f"{prefix}/{i % 50}".encode(), value=b"v%d" % i), timeout=10)
                        written[0] += 1
                    except grpc.RpcError as e:
                        errors.append(e.details())
                        return
                    i += 1

        restarted = c.followers()[0]
        threads = [threading.Thread(target=writer, args=(m, m.name)) for m in c.members if m is not restarted]
        for t in threads:
            t.start()
        try:
            time.sleep(4)  # about 20 checks while members apply at different paces
            # A restart with the start-up check on, mid-write: it compares at its own revision.
            restarted.stop()
            time.sleep(0.5)
            restarted.start()
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=20)
        self.assertEqual(errors, [], "writes failed")
        self.assertGreater(written[0], 50)
        self.assertIn("initial corruption check passed", restarted.log_tail(200))
        for m in c.members:
            self.assertEqual(alarm_lines(m), [], m.name)
        self.wait_hashes_agree(c.members)
        r = etcdctl(c.leader(), "put", "still", "writable")
        self.assertEqual(r.rc, 0, r)


def main():
    path = e2e_harness.subject_path()
    if path == e2e_harness.ETCD_BIN or not (TOOL and os.access(TOOL, os.X_OK)):
        print(f"SKIP: needs cairnd and the corrupt tool (CAIRN_CORRUPT_TOOL={TOOL!r})")
        sys.exit(e2e_harness.SKIP)
    e2e_harness.main()


if __name__ == "__main__":
    main()
