#!/usr/bin/python3
"""Lease checkpoints (etcd's --experimental-enable-lease-checkpoint): after a kill -9 and restart,
a long lease resumes from its checkpointed remaining TTL instead of a fresh full TTL; a lease
renewed since its checkpoint gets its full TTL; without the flag every lease gets its full TTL
(the behaviour the checkpoints change). Real cairnd processes, python3-etcd3 as the client.

cairnd only: etcd 3.4 checkpoints every 5 minutes with no flag to shorten it."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TTL = 60
INTERVAL_MS = 1000
RUN_BEFORE_KILL_S = 5.5  # about five checkpoint passes


class LeaseCheckpointTest(harness.unittest.TestCase):

    def setUp(self):
        self.tmp = harness.TempDirs()
        self.addCleanup(self.tmp.cleanup)
        if harness.subject_binary()[0] != "cairnd":
            self.skipTest("cairnd only")

    def remaining_after_restart(self, flags):
        """Grants two leases of TTL, lets `RUN_BEFORE_KILL_S` pass (renewing the second just before
        the end), kills the server with SIGKILL, restarts it and returns both remaining TTLs."""
        server = harness.make_subject(self.tmp, name=f"ckpt{len(flags)}", extra_flags=flags)
        self.addCleanup(server.kill)
        server.start()
        c = server.client()
        try:
            idle = c.lease(TTL)
            renewed = c.lease(TTL)
            c.put("/services/idle", "x", lease=idle)
            time.sleep(RUN_BEFORE_KILL_S)
            list(renewed.refresh())
            time.sleep(0.6)  # the clearing checkpoint goes out on the expiry thread's next tick
        finally:
            c.close()
        server.kill9()
        server.start()
        c = server.client()
        try:
            return (c.get_lease_info(idle.id).TTL, c.get_lease_info(renewed.id).TTL,
                    c.get("/services/idle")[0])
        finally:
            c.close()

    def test_checkpointed_lease_resumes_its_remaining_ttl(self):
        idle, renewed, value = self.remaining_after_restart(
            ["--experimental-enable-lease-checkpoint",
             f"--experimental-lease-checkpoint-interval={INTERVAL_MS}"])
        self.assertEqual(value, b"x")
        # Full TTL would be TTL + the election timeout extension (1 s): TTL or TTL - 1 when read.
        # Checkpointed at most one interval before the kill: about TTL - 4.5 + 1.
        self.assertLess(idle, TTL - 2, "the idle lease got a full TTL again after the restart")
        self.assertGreater(idle, TTL - 15)
        self.assertGreaterEqual(renewed, TTL - 1, "the renewed lease kept its stale checkpoint")

    def test_without_checkpoints_every_lease_restarts_with_its_full_ttl(self):
        idle, renewed, value = self.remaining_after_restart([])
        self.assertEqual(value, b"x")
        self.assertGreaterEqual(idle, TTL - 1)
        self.assertGreaterEqual(renewed, TTL - 1)


if __name__ == "__main__":
    harness.main_or_skip()
