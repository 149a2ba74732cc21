#!/usr/bin/python3
"""Leases across a cairnd restart (SIGTERM, then start on the same data dir and port).

What a user relies on:
  - leases and the keys attached to them survive a clean restart; a revoked
    lease stays revoked;
  - after the restart keep-alives work, so a live owner keeps its keys for as
    long as it keeps them alive, and revoking then deletes exactly its keys
    (the lease -> keys index survived too);
  - a lease whose owner never comes back still expires: its key is gone
    within TTL + 1 s of the restarted member answering (cairnd, like etcd,
    gives every lease its full TTL plus one election timeout, 1 s by default,
    when it becomes leader). EXPIRY_GRACE_S allows for the expiry tick
    (100 ms) and the revoke's trip through the log; it is not a speed claim.
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_harness as h  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402

TTL = 4
EXPIRY_GRACE_S = 0.5


class RestartLeasesTest(h.E2eTest):

    def lease_rpc(self, server, method, request):
        with server.channel() as ch:
            return getattr(rpc.LeaseStub(ch), method)(request, timeout=10)

    def test_leases_survive_restart_keepalives_work_and_orphans_expire(self):
        srv = self.server("subject", name="member")
        c = srv.client()
        kept = c.lease(TTL)
        orphan = c.lease(TTL)
        revoked = c.lease(60)
        c.put("/r/kept/1", "a", lease=kept)
        c.put("/r/kept/2", "b", lease=kept)
        c.put("/r/orphan", "o", lease=orphan)
        c.put("/r/revoked", "x", lease=revoked)
        c.put("/r/plain", "p")
        revoked.revoke()
        c.close()

        rc = srv.stop(signal.SIGTERM)
        if srv.binary != h.ETCD_BIN:  # etcd re-raises SIGTERM instead of exiting 0
            self.assertEqual(rc, 0, f"SIGTERM exit code {rc}\n{srv.log_tail()}")
        srv.start()
        restarted = srv.ready_at

        c = srv.client()
        self.addCleanup(c.close)
        # Everything is there right after the restart, well within the TTL.
        self.assertEqual(sorted(m.key for _, m in c.get_prefix("/r/")),
                         [b"/r/kept/1", b"/r/kept/2", b"/r/orphan", b"/r/plain"])
        listed = self.lease_rpc(srv, "LeaseLeases", rpc.LeaseLeasesRequest())
        self.assertEqual(sorted(x.ID for x in listed.leases), sorted([kept.id, orphan.id]))
        info = self.lease_rpc(srv, "LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=kept.id, keys=True))
        self.assertEqual(info.grantedTTL, TTL)
        self.assertTrue(0 < info.TTL <= TTL + 1, info.TTL)
        self.assertEqual(sorted(info.keys), [b"/r/kept/1", b"/r/kept/2"])

        # The owner of `kept` is back: it keeps its lease alive over LeaseKeepAlive.
        answers = list(c.refresh_lease(kept.id))
        self.assertEqual([(a.ID, a.TTL) for a in answers], [(kept.id, TTL)])
        stop = threading.Event()
        refresh_errors = []
        refresh_answers = []

        def keep_alive():
            while not stop.wait(0.5):
                try:
                    refresh_answers.extend(a.TTL for a in c.refresh_lease(kept.id))
                except Exception as e:  # noqa: BLE001 - reported by the test
                    refresh_errors.append(repr(e))
        refresher = threading.Thread(target=keep_alive, daemon=True)
        refresher.start()
        self.addCleanup(refresher.join, 5)
        self.addCleanup(stop.set)

        # The owner of `orphan` never comes back: its key must go.
        bound = restarted + TTL + 1 + EXPIRY_GRACE_S
        last_seen = None
        give_up = restarted + TTL + 8
        while time.monotonic() < give_up:
            sent = time.monotonic()
            if c.get("/r/orphan")[0] is None:
                break
            last_seen = sent
            time.sleep(0.05)
        gone_after = time.monotonic() - restarted
        print(f"\n  orphan key gone {gone_after:.2f}s after the restarted member answered", file=sys.stderr)
        self.assertIsNone(c.get("/r/orphan")[0], f"orphan key still there {gone_after:.1f}s after restart")
        self.assertTrue(last_seen is None or last_seen <= bound,
                        f"orphan key seen {last_seen - restarted:.2f}s after the restart "
                        f"(TTL {TTL}s + 1s + {EXPIRY_GRACE_S}s grace)")
        info = self.lease_rpc(srv, "LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=orphan.id))
        self.assertEqual(info.TTL, -1)

        # Two more TTLs with keep-alives: the kept lease and its keys stay.
        time.sleep(2 * TTL)
        stop.set()
        refresher.join(5)
        self.assertEqual(refresh_errors[:3], [])
        self.assertTrue(refresh_answers and all(t == TTL for t in refresh_answers), refresh_answers)
        self.assertEqual(sorted(m.key for _, m in c.get_prefix("/r/")),
                         [b"/r/kept/1", b"/r/kept/2", b"/r/plain"])

        # Revoking after the restart deletes exactly the lease's keys.
        c.revoke_lease(kept.id)
        self.assertEqual([m.key for _, m in c.get_prefix("/r/")], [b"/r/plain"])
        self.assertTrue(srv.running(), srv.log_tail())

    def test_lease_refreshed_across_two_restarts(self):
        # A lease kept alive right up to a restart, twice, is still there with its key.
        srv = self.server("subject", name="member")
        c = srv.client()
        lease = c.lease(TTL)
        c.put("/r2/k", "v", lease=lease)
        for _ in range(2):
            list(c.refresh_lease(lease.id))
            c.close()
            srv.stop(signal.SIGTERM)
            srv.start()
            c = srv.client()
            answers = list(c.refresh_lease(lease.id))
            self.assertEqual([(a.ID, a.TTL) for a in answers], [(lease.id, TTL)])
            self.assertEqual(c.get("/r2/k")[0], b"v")
        time.sleep(TTL / 2)
        list(c.refresh_lease(lease.id))
        time.sleep(TTL / 2 + 0.5)  # past the TTL counted from the restart, but refreshed
        self.assertEqual(c.get("/r2/k")[0], b"v")
        c.close()


if __name__ == "__main__":
    h.main()
