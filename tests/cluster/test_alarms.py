"""Alarms on a three-member cairnd cluster: they go through the log, so every member lists and
enforces every member's alarm, they survive kill -9, and one disarm clears them everywhere.

Run with Debian's /usr/bin/python3; the subject binary is chosen as in tests/e2e (env CAIRND, else
the build tree's cairnd). Every member listens on 127.0.0.1 free ports; every wait is bounded.
"""

import json
import time

from cluster_harness import Cluster, ClusterChecks, main, rpc
from e2e_harness import E2eTest, etcdctl
from grpc_calls import grpc_error

NO_SPACE = "etcdserver: mvcc: database space exceeded"
CORRUPT = "etcdserver: corrupt cluster"
VALUE = b"q" * 100_000


class AlarmClusterTest(E2eTest, ClusterChecks):

    def etcdctl_status(self, member):
        """StatusResponse through etcdctl (python3-etcd3's protos predate errors and dbSizeInUse)."""
        r = etcdctl(member, "endpoint", "status", "-w", "json")
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)[0]["Status"]

    def status_errors(self, member):
        return self.etcdctl_status(member).get("errors", [])

    def assert_put_refused(self, member, text):
        r = etcdctl(member, "put", "small", "x")
        self.assertNotEqual(r.rc, 0, f"{member.name}: {r}")
        self.assertIn(text, r.err, f"{member.name}: {r}")

    def test_nospace_on_one_member_is_enforced_everywhere_survives_restart_and_disarms_everywhere(self):
        c = Cluster(self, member_flags={0: ("--quota-backend-bytes", str(1 << 20))})
        small, others = c.members[0], c.members[1:]
        small_id = self.member_id(small)
        # Fill the member with the small quota through itself: it refuses before proposing.
        err = None
        with small.channel() as ch:
            kv = rpc.KVStub(ch)
            for i in range(60):
                err = grpc_error(lambda: kv.Put(rpc.PutRequest(key=b"fill/%03d" % i, value=VALUE), timeout=10))
                if err is not None:
                    break
        self.assertEqual(err, ("RESOURCE_EXHAUSTED", NO_SPACE))
        listed = f"memberID:{small_id} alarm:NOSPACE"
        for m in others:
            r = etcdctl(m, "alarm", "list")
            self.assertEqual((r.rc, r.out.strip()), (0, listed), f"{m.name}: {r}")
        for m in c.members:
            self.assert_put_refused(m, NO_SPACE)
        lease = etcdctl(others[1], "lease", "grant", "60")
        self.assertIn(NO_SPACE, lease.err, lease)
        # Reads and deletes still work anywhere; Status and /health report the alarm.
        self.assertEqual(etcdctl(others[0], "get", "fill/000", "--keys-only").out.strip(), "fill/000")
        self.assertEqual(etcdctl(others[1], "del", "fill/000").out.strip(), "1")
        self.assertEqual(self.status_errors(others[1]), [listed + " "])
        code, body = others[0].health()
        self.assertEqual(code, 503, body)
        self.assertIn("ALARM NOSPACE", body)

        # kill -9 and restart a member: the alarm is still listed there and still enforced.
        restarted = others[0]
        restarted.kill()
        restarted.start()
        r = etcdctl(restarted, "alarm", "list")
        self.assertEqual((r.rc, r.out.strip()), (0, listed), r)
        self.assert_put_refused(restarted, NO_SPACE)

        # Free space, compact, disarm (on a member that never raised it): writes work everywhere.
        r = etcdctl(restarted, "del", "--prefix", "fill/", "-w", "json")
        self.assertEqual(r.rc, 0, r)
        rev = int(json.loads(r.out)["header"]["revision"])
        r = etcdctl(others[1], "compaction", "--physical", str(rev))
        self.assertEqual(r.rc, 0, r)
        # As an operator would (endpoint status): wait until the small member has freed the space,
        # else its next put trips its quota again.
        deadline = time.monotonic() + 10
        while self.etcdctl_status(small)["dbSizeInUse"] > (1 << 20) // 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        r = etcdctl(others[1], "alarm", "disarm")
        self.assertEqual((r.rc, r.out.strip()), (0, listed), r)
        for i, m in enumerate(c.members):
            r = etcdctl(m, "alarm", "list")
            self.assertEqual((r.rc, r.out), (0, ""), f"{m.name}: {r}")
            r = etcdctl(m, "put", f"after{i}", "ok")
            self.assertEqual(r.rc, 0, f"{m.name}: {r}")
        self.assertEqual(self.status_errors(small), [])
        self.wait_hashes_agree(c.members)

    def test_corrupt_raised_through_raw_grpc_stops_writes_everywhere_until_disarmed(self):
        c = Cluster(self)
        first, second, third = c.members
        second_id = self.member_id(second)
        with first.channel() as ch:
            resp = rpc.MaintenanceStub(ch).Alarm(rpc.AlarmRequest(
                action=rpc.AlarmRequest.ACTIVATE, memberID=second_id, alarm=rpc.CORRUPT), timeout=5)
        self.assertEqual([(a.memberID, a.alarm) for a in resp.alarms], [(second_id, rpc.CORRUPT)])
        with third.channel() as ch:
            kv = rpc.KVStub(ch)
            self.assertEqual(grpc_error(lambda: kv.Put(rpc.PutRequest(key=b"k", value=b"v"), timeout=5)),
                             ("DATA_LOSS", CORRUPT))
            self.assertEqual(grpc_error(lambda: kv.DeleteRange(rpc.DeleteRangeRequest(key=b"k"), timeout=5)),
                             ("DATA_LOSS", CORRUPT))
            self.assertEqual(grpc_error(lambda: kv.Compact(rpc.CompactionRequest(revision=1), timeout=5)),
                             ("DATA_LOSS", CORRUPT))
            self.assertIsNone(grpc_error(lambda: kv.Range(rpc.RangeRequest(key=b"k"), timeout=5)))
            lease = rpc.LeaseStub(ch)
            self.assertEqual(grpc_error(lambda: lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=60), timeout=5)),
                             ("DATA_LOSS", CORRUPT))
        self.assert_put_refused(second, CORRUPT)
        r = etcdctl(third, "alarm", "list")
        self.assertEqual((r.rc, r.out.strip()), (0, f"memberID:{second_id} alarm:CORRUPT"), r)
        code, body = first.health()
        self.assertEqual(code, 503, body)
        self.assertIn("ALARM CORRUPT", body)
        r = etcdctl(first, "alarm", "disarm")
        self.assertEqual(r.rc, 0, r)
        for i, m in enumerate(c.members):
            r = etcdctl(m, "put", f"k{i}", "v")
            self.assertEqual(r.rc, 0, f"{m.name}: {r}")


if __name__ == "__main__":
    main()
