#!/usr/bin/python3
"""python3-etcd3 (Debian's, 0.12) against cairnd: watches, leases and its Lock.

What users of the library rely on: watch_prefix delivers puts and deletes in
order and stops on cancel; leases can be granted, refreshed and revoked, and
keys attached to a lease vanish (with a DELETE event) when it is revoked or
expires; etcd3.Lock (a txn on create_revision == 0 putting a key under a
lease, waiting with watch_once) is mutually exclusive, hands over on release,
and frees itself when its holder's lease expires.

Runs against etcd 3.4 too (CAIRND=etcd) to check the test itself.
"""

import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_harness as h  # noqa: E402
import etcd3  # noqa: E402
import etcd3.events  # noqa: E402

WAIT_S = 10


def acquire(lock, timeout):
    """lock.acquire(timeout), polling.

    Debian's python3-etcd3 0.12 waits between attempts through a tenacity
    callback whose signature the installed tenacity no longer calls: a
    contended Lock.acquire(timeout > 0) raises TypeError, against etcd too.
    acquire(timeout=0) is one attempt of the library's own txn (grant a lease,
    put the key if its create_revision is 0), so poll that.
    """
    deadline = time.monotonic() + timeout
    while True:
        if lock.acquire(timeout=0):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def describe(event):
    kind = "PUT" if isinstance(event, etcd3.events.PutEvent) else "DELETE"
    return (kind, event.key.decode(), event.value.decode())


class PythonEtcd3Test(h.E2eTest):

    def setUp(self):
        super().setUp()
        self.srv = self.server("subject")
        self.c = self.srv.client()
        self.addCleanup(self.c.close)

    def collect(self, iterator, out):
        def run():
            try:
                for event in iterator:
                    out.put(describe(event))
            except Exception as e:  # noqa: BLE001 - reported through the queue
                out.put(("ERROR", repr(e), ""))
            out.put(("END", "", ""))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def take(self, q, n):
        got = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < n and time.monotonic() < deadline:
            try:
                got.append(q.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def test_watch_prefix_delivers_in_order_and_stops_on_cancel(self):
        events, cancel = self.c.watch_prefix("/w/")
        q = queue.Queue()
        reader = self.collect(events, q)
        self.c.put("/w/a", "1")
        self.c.put("/x", "outside")
        self.c.put("/w/b", "2")
        self.c.put("/w/a", "3")
        self.c.delete("/w/b")
        self.assertEqual(self.take(q, 4), [("PUT", "/w/a", "1"), ("PUT", "/w/b", "2"),
                                           ("PUT", "/w/a", "3"), ("DELETE", "/w/b", "")])
        cancel()
        self.c.put("/w/after-cancel", "x")
        self.assertEqual(self.take(q, 1), [("END", "", "")], "iterator did not end on cancel")
        reader.join(WAIT_S)
        self.assertFalse(reader.is_alive())

    def test_watch_callback_and_cancel_watch(self):
        seen = queue.Queue()
        watch_id = self.c.add_watch_prefix_callback(
            "/cb/", lambda resp: [seen.put(describe(e)) for e in resp.events])
        self.c.put("/cb/1", "a")
        self.c.delete("/cb/1")
        self.assertEqual(self.take(seen, 2), [("PUT", "/cb/1", "a"), ("DELETE", "/cb/1", "")])
        self.c.cancel_watch(watch_id)
        self.c.put("/cb/2", "b")
        time.sleep(0.5)
        self.assertTrue(seen.empty(), "callback still called after cancel_watch")

    def test_lease_grant_refresh_revoke_and_attached_keys(self):
        lease = self.c.lease(10)
        self.assertEqual(lease.granted_ttl, 10)
        self.assertTrue(8 <= lease.remaining_ttl <= 10, lease.remaining_ttl)
        self.c.put("/svc/a", "1", lease=lease)
        self.c.put("/svc/b", "2", lease=lease)
        self.c.put("/svc/free", "3")
        self.assertEqual(sorted(lease.keys), [b"/svc/a", b"/svc/b"])

        answers = list(lease.refresh())
        self.assertEqual(len(answers), 1)
        self.assertEqual(answers[0].ID, lease.id)
        self.assertEqual(answers[0].TTL, 10)

        events, cancel = self.c.watch_prefix("/svc/")
        q = queue.Queue()
        self.collect(events, q)
        time.sleep(0.3)  # the watch has no start revision: let it be created first
        lease.revoke()
        got = self.take(q, 2)
        cancel()
        self.assertEqual(sorted(got), [("DELETE", "/svc/a", ""), ("DELETE", "/svc/b", "")])
        self.assertEqual([m.key for _, m in self.c.get_prefix("/svc/")], [b"/svc/free"])
        self.assertEqual(lease.remaining_ttl, -1)  # TimeToLive of a revoked lease
        with self.assertRaises(Exception):
            self.c.put("/svc/c", "x", lease=lease)

    def test_lease_without_refresh_expires_and_takes_its_keys(self):
        lease = self.c.lease(2)
        self.c.put("/exp/k", "v", lease=lease)
        started = time.monotonic()
        while self.c.get("/exp/k")[0] is not None and time.monotonic() - started < 2 + 5:
            time.sleep(0.1)
        self.assertIsNone(self.c.get("/exp/k")[0], "key of an expired lease still there")
        self.assertEqual(lease.remaining_ttl, -1)

    def test_refreshed_lease_outlives_its_ttl(self):
        lease = self.c.lease(2)
        self.c.put("/kept/k", "v", lease=lease)
        for _ in range(8):  # 4 s, twice the TTL
            time.sleep(0.5)
            list(lease.refresh())
        self.assertEqual(self.c.get("/kept/k")[0], b"v")
        lease.revoke()

    def test_txn_put_under_a_lease(self):
        # What Lock does underneath: a txn whose put names a live lease.
        lease = self.c.lease(20)
        ok, _ = self.c.transaction(compare=[self.c.transactions.create("/txn/k") == 0],
                                   success=[self.c.transactions.put("/txn/k", "v", lease=lease)],
                                   failure=[])
        self.assertTrue(ok)
        self.assertEqual(self.c.get("/txn/k")[1].lease_id, lease.id)
        lease.revoke()
        self.assertIsNone(self.c.get("/txn/k")[0])

    def test_lock_is_mutually_exclusive_and_hands_over_on_release(self):
        other = self.srv.client()
        self.addCleanup(other.close)
        first = self.c.lock("job", ttl=20)
        second = other.lock("job", ttl=20)
        self.assertTrue(acquire(first, 5))
        self.assertTrue(first.is_acquired())
        self.assertFalse(acquire(second, 1), "second holder got a held lock")
        self.assertFalse(second.is_acquired())

        result = queue.Queue()
        waiter = threading.Thread(target=lambda: result.put(acquire(second, WAIT_S)), daemon=True)
        waiter.start()
        time.sleep(0.3)
        self.assertTrue(result.empty(), "second acquired while the first still held the lock")
        self.assertTrue(first.release())
        self.assertTrue(result.get(timeout=WAIT_S + 2), "release did not hand the lock over")
        self.assertTrue(second.is_acquired())
        self.assertFalse(first.is_acquired())
        self.assertTrue(second.release())

    def test_lock_serialises_critical_sections(self):
        clients = [self.srv.client() for _ in range(3)]
        for c in clients:
            self.addCleanup(c.close)
        self.c.put("/counter", "0")
        failures = []

        def worker(c, n):
            lock = c.lock("counter", ttl=20)
            for _ in range(n):
                try:
                    got = acquire(lock, 3 * WAIT_S)
                except Exception as e:  # noqa: BLE001 - a failed RPC is a test failure, not a crash
                    failures.append(f"acquire failed: {e!r}")
                    return
                if not got:
                    failures.append("acquire timed out")
                    return
                value = int(c.get("/counter")[0])
                time.sleep(0.01)  # a lost update shows if two holders overlap
                c.put("/counter", str(value + 1))
                if not lock.release():
                    failures.append("release found someone else's lock")

        threads = [threading.Thread(target=worker, args=(c, 4), daemon=True) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(3 * WAIT_S)
        self.assertFalse(any(t.is_alive() for t in threads), "workers did not finish")
        self.assertEqual(failures[:3], [])
        self.assertEqual(self.c.get("/counter")[0], b"12")

    def test_lock_of_vanished_holder_frees_when_its_lease_expires(self):
        other = self.srv.client()
        self.addCleanup(other.close)
        abandoned = self.c.lock("crashy", ttl=2)
        self.assertTrue(acquire(abandoned, 5))
        # The holder never refreshes or releases: its lease expires and the lock key goes with it.
        successor = other.lock("crashy", ttl=10)
        self.assertTrue(acquire(successor, 2 + 6), "lock not freed by its holder's lease expiry")
        self.assertTrue(successor.is_acquired())
        self.assertFalse(abandoned.is_acquired())


if __name__ == "__main__":
    h.main()
