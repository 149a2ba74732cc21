#!/usr/bin/python3
"""`etcdctl check datascale` against cairnd: etcdctl writes 10,000 keys, reads the server's
process_resident_memory_bytes from /metrics on the client port before and after, reports the memory
used and cleans up. It needs the HTTP answers on the client port (server/client_port) and etcd's
process metrics (server/metrics), so it checks both the way an operator's tool uses them.
(`check perf` works too, but takes a minute: run it by hand.)"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class EtcdctlCheckTest(harness.unittest.TestCase):

    def test_check_datascale_passes(self):
        tmp = harness.TempDirs()
        self.addCleanup(tmp.cleanup)
        server = harness.make_subject(tmp, name="check")
        self.addCleanup(server.kill)
        server.start()
        r = harness.etcdctl(server, "check", "datascale", "--load", "s", timeout=120)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("PASS: Approximate system memory used", r.stdout)
        left = harness.etcdctl(server, "get", "/etcdctl-check-datascale", "--prefix", "--keys-only", "-w", "json")
        self.assertEqual(left.rc, 0, left)
        self.assertNotIn('"kvs"', left.stdout, "etcdctl's keys were not cleaned up")


if __name__ == "__main__":
    harness.main_or_skip()
