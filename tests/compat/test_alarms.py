#!/usr/bin/python3
"""Alarms compared with etcd 3.4 on one member each: Alarm ACTIVATE / DEACTIVATE / GET through
raw gRPC (what each answers, what each then refuses, with which code and text), and etcdctl's
`alarm list` / `alarm disarm` output against both; cairnctl's against cairnd, next to etcdctl's.
NOSPACE raised by a full quota is covered by test_bad_input.py.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Step, grpc_error  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cairnctl_path():
    path = os.environ.get("CAIRNCTL") or os.path.join(os.path.dirname(harness.subject_binary()[1]), "cairnctl")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def put_op(key):
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=b"v"))


class AlarmCompare(harness.ServerPairTest):

    def alarm(self, server, action, member, alarm):
        """The answer's alarms as (is this server's member, type), or the error."""
        with server.channel() as ch:
            maint = rpc.MaintenanceStub(ch)
            own = maint.Status(rpc.StatusRequest(), timeout=5).header.member_id
            try:
                resp = maint.Alarm(rpc.AlarmRequest(action=action, memberID=own if member == "self" else member,
                                                    alarm=alarm), timeout=5)
            except Exception as e:  # noqa: BLE001 - reported in the comparison
                return repr(e)
        return [(a.memberID == own, a.alarm) for a in resp.alarms]

    def raise_and_probe(self, server, alarm):
        """Raises `alarm` for the server itself, then what each kind of request gets."""
        out = {
            "activate": self.alarm(server, rpc.AlarmRequest.ACTIVATE, "self", alarm),
            "activate again": self.alarm(server, rpc.AlarmRequest.ACTIVATE, "self", alarm),
            "deactivate absent": self.alarm(server, rpc.AlarmRequest.DEACTIVATE, 12345, alarm),
            "get all": self.alarm(server, rpc.AlarmRequest.GET, 0, rpc.AlarmType.Value("NONE")),
            "get nospace": self.alarm(server, rpc.AlarmRequest.GET, 0, rpc.NOSPACE),
            "get corrupt": self.alarm(server, rpc.AlarmRequest.GET, 0, rpc.CORRUPT),
        }
        with server.channel() as ch:
            kv, lease = rpc.KVStub(ch), rpc.LeaseStub(ch)
            out["put"] = grpc_error(lambda: kv.Put(rpc.PutRequest(key=b"k", value=b"v"), timeout=5))
            out["txn with put"] = grpc_error(lambda: kv.Txn(rpc.TxnRequest(failure=[put_op(b"k")]), timeout=5))
            out["txn with delete"] = grpc_error(lambda: kv.Txn(rpc.TxnRequest(success=[
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=b"pre"))]), timeout=5))
            out["read-only txn"] = grpc_error(lambda: kv.Txn(rpc.TxnRequest(success=[
                rpc.RequestOp(request_range=rpc.RangeRequest(key=b"pre"))]), timeout=5))
            out["range"] = grpc_error(lambda: kv.Range(rpc.RangeRequest(key=b"pre"), timeout=5))
            out["delete"] = grpc_error(lambda: kv.DeleteRange(rpc.DeleteRangeRequest(key=b"pre"), timeout=5))
            out["compaction"] = grpc_error(lambda: kv.Compact(rpc.CompactionRequest(revision=2), timeout=5))
            out["lease grant"] = grpc_error(lambda: lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=60), timeout=5))
            out["lease revoke"] = grpc_error(lambda: lease.LeaseRevoke(rpc.LeaseRevokeRequest(ID=self.lease_id[id(server)]),
                                                                      timeout=5))
        return out

    def prepare(self):
        self.lease_id = {}
        for server in self.servers():
            with server.channel() as ch:
                rpc.KVStub(ch).Put(rpc.PutRequest(key=b"pre", value=b"1"), timeout=5)
                rpc.KVStub(ch).Put(rpc.PutRequest(key=b"pre", value=b"2"), timeout=5)
                self.lease_id[id(server)] = rpc.LeaseStub(ch).LeaseGrant(rpc.LeaseGrantRequest(TTL=600),
                                                                          timeout=5).ID

    def check(self, alarm):
        self.prepare()
        ref, subj = self.raise_and_probe(self.ref, alarm), self.raise_and_probe(self.subj, alarm)
        self.assertEqual(ref["activate"], [(True, alarm)], f"[harness] etcd: {ref}")
        for key in ref:
            self.assertEqual(subj[key], ref[key], f"{key}: etcd {ref[key]!r}, subject {subj[key]!r}")
        self.compare([
            Step("alarm", "list"),
            Step("put", "k", "v"),
            Step("get", "pre", "--print-value-only"),
            Step("alarm", "disarm"),
            Step("alarm", "list"),
            Step("alarm", "disarm"),
            Step("put", "k", "v"),
        ])
        self.assertSubjectAlive()

    def test_nospace_raised_by_hand(self):
        self.check(rpc.NOSPACE)

    def test_corrupt_raised_by_hand(self):
        self.check(rpc.CORRUPT)

    def test_cairnctl_prints_what_etcdctl_prints(self):
        ctl = cairnctl_path()
        if ctl is None:
            self.skipTest("cairnctl not built")

        def run(tool, *args):
            cmd = [tool, "--endpoints", self.subj.endpoint] + list(args)
            p = subprocess.run(cmd, capture_output=True, timeout=20, env=dict(os.environ, ETCDCTL_API="3"))
            return p.returncode, p.stdout.decode()

        for alarm in (rpc.NOSPACE, rpc.CORRUPT):
            self.alarm(self.subj, rpc.AlarmRequest.ACTIVATE, "self", alarm)
            self.alarm(self.subj, rpc.AlarmRequest.ACTIVATE, 77, alarm)
        listed = run("etcdctl", "alarm", "list")
        self.assertEqual(len(listed[1].splitlines()), 4, listed)
        self.assertEqual(run(ctl, "alarm", "list"), listed)
        disarmed = run(ctl, "alarm", "disarm")
        self.assertEqual(disarmed, listed)
        self.assertEqual(run("etcdctl", "alarm", "list"), (0, ""))
        for alarm in (rpc.NOSPACE, rpc.CORRUPT):
            self.alarm(self.subj, rpc.AlarmRequest.ACTIVATE, "self", alarm)
        by_etcdctl = run("etcdctl", "alarm", "disarm")
        self.assertEqual(len(by_etcdctl[1].splitlines()), 2, by_etcdctl)
        self.assertEqual(run(ctl, "alarm", "list"), (0, ""))


if __name__ == "__main__":
    harness.main_or_skip()
