#!/usr/bin/python3
"""Auto-compaction (--auto-compaction-mode periodic, --auto-compaction-retention): the same scenario
runs against real etcd 3.4 and cairnd, each started with a 3-second retention. While a client keeps
writing, both must compact on their own: an old revision becomes "required revision has been
compacted" to etcdctl, while a revision written a moment ago stays readable. A bad retention value
stops start-up. (Revision mode compacts every 5 minutes, too slow here: the unit tests cover it.)"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RETENTION = "3s"
COMPACTED = "required revision has been compacted"
WAIT_S = 20.0


class AutoCompactionTest(harness.unittest.TestCase):

    def setUp(self):
        self.tmp = harness.TempDirs()
        self.addCleanup(self.tmp.cleanup)

    def scenario(self, server):
        """Returns (first revision compacted away after, recent revision still readable)."""
        self.addCleanup(server.kill)
        server.start()
        c = server.client()
        self.addCleanup(c.close)
        first = c.put("/auto/key", "v0").header.revision
        deadline = time.monotonic() + WAIT_S
        compacted_after = None
        n = 0
        while time.monotonic() < deadline:
            n += 1
            c.put("/auto/key", f"v{n}")
            r = harness.etcdctl(server, "get", "/auto/key", f"--rev={first}")
            if r.rc != 0:
                self.assertIn(COMPACTED, r.stderr, f"{server.kind}: {r}")
                compacted_after = time.monotonic() - (deadline - WAIT_S)
                break
            time.sleep(0.25)
        self.assertIsNotNone(compacted_after, f"{server.kind} never compacted revision {first}:\n"
                             f"{server.log_tail()}")
        recent = c.put("/auto/key", "recent").header.revision
        time.sleep(0.3)
        r = harness.etcdctl(server, "get", "/auto/key", f"--rev={recent}", "--print-value-only")
        self.assertEqual((r.rc, r.stdout.strip()), (0, "recent"), f"{server.kind}: {r}")
        return compacted_after

    def test_both_servers_compact_old_revisions_on_their_own(self):
        flags = ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", RETENTION]
        if harness.subject_binary()[0] == "cairnd":
            subject = harness.make_subject(self.tmp, extra_flags=flags)
            took = self.scenario(subject)
            self.assertGreaterEqual(took, 2.0, "compacted before one retention had passed")
            self.assertIn("auto-compaction at revision", subject.log_tail(200))
        reference = harness.make_reference(self.tmp, extra_flags=flags)
        self.scenario(reference)

    def test_bad_retention_stops_start_up(self):
        if harness.subject_binary()[0] != "cairnd":
            self.skipTest("cairnd's own message")
        server = harness.make_subject(self.tmp, name="bad", extra_flags=[
            "--auto-compaction-mode=revision", "--auto-compaction-retention=1h"])
        self.addCleanup(server.kill)
        with self.assertRaises(harness.ServerError) as raised:
            server.start(timeout=10)
        # cairnd's own line, not the command line the log starts with (which names the flag too).
        self.assertIn('invalid value "1h" for --auto-compaction-retention', str(raised.exception))


if __name__ == "__main__":
    harness.main_or_skip()
