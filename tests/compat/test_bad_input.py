#!/usr/bin/python3
"""Bad input: every rejected request must get etcd's gRPC code and message,
and the server must keep serving afterwards.

Checked three ways: raw gRPC (exact status code and details, against a table
taken from etcd's rpctypes and against etcd itself), etcdctl (exit code and
error output compared with etcd), and the database-over-quota path (NOSPACE).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Step, grpc_error  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402

MAX_REQUEST_BYTES = 10000
MAX_TXN_OPS = 4

EMPTY_KEY = ("INVALID_ARGUMENT", "etcdserver: key is not provided")
KEY_NOT_FOUND = ("INVALID_ARGUMENT", "etcdserver: key not found")
VALUE_PROVIDED = ("INVALID_ARGUMENT", "etcdserver: value is provided")
LEASE_NOT_FOUND = ("NOT_FOUND", "etcdserver: requested lease not found")
LEASE_PROVIDED = ("INVALID_ARGUMENT", "etcdserver: lease is provided")
TOO_MANY_OPS = ("INVALID_ARGUMENT", "etcdserver: too many operations in txn request")
DUPLICATE_KEY = ("INVALID_ARGUMENT", "etcdserver: duplicate key given in txn request")
TOO_LARGE = ("INVALID_ARGUMENT", "etcdserver: request is too large")
COMPACTED = ("OUT_OF_RANGE", "etcdserver: mvcc: required revision has been compacted")
FUTURE_REV = ("OUT_OF_RANGE", "etcdserver: mvcc: required revision is a future revision")
NO_SPACE = ("RESOURCE_EXHAUSTED", "etcdserver: mvcc: database space exceeded")
OK = None
ANY_DETAILS = "*"   # compare only the status code


def put_op(key, value=b"v"):
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))


def del_op(key, range_end=b""):
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key, range_end=range_end))


def range_op(key, revision=0):
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=key, revision=revision))


def bad_grpc_cases():
    """(name, expected, call(kv_stub)) in order; state before: a, b, c at revs 2..4,
    compacted at 3. Order matters: revisions after each case must match etcd's."""
    T = 5  # per-call timeout, seconds
    big = b"x" * (MAX_REQUEST_BYTES * 2)
    huge = b"x" * (MAX_REQUEST_BYTES + 600 * 1024)  # beyond gRPC's receive limit too
    long_key = b"k" * 2000                            # longer than an LMDB key (511)
    return [
        ("put empty key", EMPTY_KEY, lambda kv: kv.Put(rpc.PutRequest(key=b"", value=b"x"), timeout=T)),
        ("range empty key", EMPTY_KEY, lambda kv: kv.Range(rpc.RangeRequest(key=b""), timeout=T)),
        ("delete empty key", EMPTY_KEY,
         lambda kv: kv.DeleteRange(rpc.DeleteRangeRequest(key=b""), timeout=T)),
        ("txn put empty key", EMPTY_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"")]), timeout=T)),
        ("txn range empty key in failure branch", EMPTY_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(failure=[range_op(b"")]), timeout=T)),
        ("put ignore_value on missing key", KEY_NOT_FOUND,
         lambda kv: kv.Put(rpc.PutRequest(key=b"missing", ignore_value=True), timeout=T)),
        ("put ignore_value with a value", VALUE_PROVIDED,
         lambda kv: kv.Put(rpc.PutRequest(key=b"a", value=b"x", ignore_value=True), timeout=T)),
        ("put ignore_lease with a lease", LEASE_PROVIDED,
         lambda kv: kv.Put(rpc.PutRequest(key=b"a", value=b"x", lease=1234, ignore_lease=True),
                           timeout=T)),
        ("put with a lease that does not exist", LEASE_NOT_FOUND,
         lambda kv: kv.Put(rpc.PutRequest(key=b"a", value=b"x", lease=999), timeout=T)),
        ("txn put with a lease that does not exist", LEASE_NOT_FOUND,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[rpc.RequestOp(
             request_put=rpc.PutRequest(key=b"a", value=b"x", lease=999))]), timeout=T)),
        ("txn compare on empty key", EMPTY_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(compare=[rpc.Compare(
             key=b"", target=rpc.Compare.VALUE, result=rpc.Compare.EQUAL, value=b"x")]), timeout=T)),
        ("put over --max-request-bytes", TOO_LARGE,
         lambda kv: kv.Put(rpc.PutRequest(key=b"big", value=big), timeout=T)),
        ("txn over --max-request-bytes", TOO_LARGE,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"big", big)]), timeout=T)),
        ("put far over --max-request-bytes (gRPC limit)", ("RESOURCE_EXHAUSTED", ANY_DETAILS),
         lambda kv: kv.Put(rpc.PutRequest(key=b"huge", value=huge), timeout=T)),
        ("txn over --max-txn-ops", TOO_MANY_OPS,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"t%d" % i) for i in range(MAX_TXN_OPS + 1)]),
                           timeout=T)),
        ("txn over --max-txn-ops in failure branch", TOO_MANY_OPS,
         lambda kv: kv.Txn(rpc.TxnRequest(failure=[range_op(b"t%d" % i) for i in range(MAX_TXN_OPS + 1)]),
                           timeout=T)),
        ("txn at --max-txn-ops is fine", OK,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"t%d" % i) for i in range(MAX_TXN_OPS)]),
                           timeout=T)),
        ("nested txn over --max-txn-ops", TOO_MANY_OPS,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"x1"), rpc.RequestOp(request_txn=rpc.TxnRequest(
             success=[put_op(b"y%d" % i) for i in range(MAX_TXN_OPS)]))]), timeout=T)),
        ("nested txn duplicate of outer put", DUPLICATE_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"a"), rpc.RequestOp(request_txn=rpc.TxnRequest(
             failure=[put_op(b"a")]))]), timeout=T)),
        ("empty txn is fine", OK, lambda kv: kv.Txn(rpc.TxnRequest(), timeout=T)),
        ("txn duplicate put", DUPLICATE_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"a"), put_op(b"a", b"w")]), timeout=T)),
        ("txn put inside deleted range", DUPLICATE_KEY,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"ab"), del_op(b"a", b"b")]), timeout=T)),
        ("txn same key in both branches is fine", OK,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[put_op(b"a", b"s")], failure=[put_op(b"a", b"f")]),
                           timeout=T)),
        ("txn two deletes of one key is fine", OK,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[del_op(b"zz"), del_op(b"zz")]), timeout=T)),
        ("range at compacted revision", COMPACTED,
         lambda kv: kv.Range(rpc.RangeRequest(key=b"a", revision=2), timeout=T)),
        ("range at revision 1 after compaction", COMPACTED,
         lambda kv: kv.Range(rpc.RangeRequest(key=b"a", revision=1), timeout=T)),
        ("range at the compaction revision is fine", OK,
         lambda kv: kv.Range(rpc.RangeRequest(key=b"a", revision=3), timeout=T)),
        ("range at future revision", FUTURE_REV,
         lambda kv: kv.Range(rpc.RangeRequest(key=b"a", revision=1000), timeout=T)),
        ("txn range at future revision", FUTURE_REV,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[range_op(b"a", 1000)]), timeout=T)),
        ("txn range at compacted revision", COMPACTED,
         lambda kv: kv.Txn(rpc.TxnRequest(success=[range_op(b"a", 2)]), timeout=T)),
        ("compact below compacted revision", COMPACTED,
         lambda kv: kv.Compact(rpc.CompactionRequest(revision=2), timeout=T)),
        ("compact at compacted revision", COMPACTED,
         lambda kv: kv.Compact(rpc.CompactionRequest(revision=3), timeout=T)),
        ("compact negative revision", COMPACTED,
         lambda kv: kv.Compact(rpc.CompactionRequest(revision=-5), timeout=T)),
        ("compact future revision", FUTURE_REV,
         lambda kv: kv.Compact(rpc.CompactionRequest(revision=1000), timeout=T)),
        ("range with range_end before key is empty, not an error", OK,
         lambda kv: kv.Range(rpc.RangeRequest(key=b"b", range_end=b"a"), timeout=T)),
        ("key longer than 511 bytes is accepted", OK,
         lambda kv: kv.Put(rpc.PutRequest(key=long_key, value=b"v"), timeout=T)),
        ("range of long key", OK,
         lambda kv: kv.Range(rpc.RangeRequest(key=long_key), timeout=T)),
    ]


def matches(expected, got):
    if expected is None or got is None:
        return expected == got
    return expected[0] == got[0] and (expected[1] == ANY_DETAILS or expected[1] == got[1])


def prepare(server):
    with server.channel() as ch:
        kv = rpc.KVStub(ch)
        for k in (b"a", b"b", b"c"):
            kv.Put(rpc.PutRequest(key=k, value=k + b"-value"), timeout=5)
        kv.Compact(rpc.CompactionRequest(revision=3, physical=True), timeout=5)


def final_state(server):
    with server.channel() as ch:
        kv = rpc.KVStub(ch)
        kv.Put(rpc.PutRequest(key=b"after", value=b"still serving"), timeout=5)
        resp = kv.Range(rpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=5)
        return resp.header.revision, [(kv_.key[:40], kv_.value, kv_.mod_revision, kv_.version)
                                      for kv_ in resp.kvs]


class BadInputLimits(harness.ServerPairTest):
    SERVER_FLAGS = ("--max-request-bytes", str(MAX_REQUEST_BYTES),
                    "--max-txn-ops", str(MAX_TXN_OPS))

    def test_grpc_codes_and_messages(self):
        prepare(self.ref)
        prepare(self.subj)
        problems = []
        with self.ref.channel() as rch, self.subj.channel() as sch:
            rkv, skv = rpc.KVStub(rch), rpc.KVStub(sch)
            for name, expected, call in bad_grpc_cases():
                got_ref = grpc_error(lambda: call(rkv))
                got_subj = grpc_error(lambda: call(skv))
                if not matches(expected, got_ref):
                    problems.append(f"[harness] etcd itself: {name}: expected {expected}, got {got_ref}")
                if not matches(expected, got_subj):
                    problems.append(f"{name}: expected {expected}, got {got_subj}")
                if not self.subj.running():
                    problems.append(f"{name}: server under test died:\n{self.subj.log_tail()}")
                    break
        if self.subj.running():
            ref_state, subj_state = final_state(self.ref), final_state(self.subj)
            if ref_state != subj_state:
                problems.append(f"state after the bad requests differs:\n   etcd:    {ref_state}\n"
                                f"   subject: {subj_state}")
        harness.fail_if_any(self, problems, "\n".join(problems))

    def test_etcdctl_errors(self):
        big = "x" * (MAX_REQUEST_BYTES * 2)
        too_many = "\n" + "\n".join(f"put t{i} v" for i in range(MAX_TXN_OPS + 1)) + "\n\n\n"
        self.compare([
            Step("put", "a", "1"),
            Step("put", "b", "2"),
            Step("put", "c", "3"),
            Step("put", "", "x"),
            Step("get", ""),
            Step("del", ""),
            Step("put", "missing", "--ignore-value"),
            Step("put", "big", big),
            Step("txn", stdin=too_many),
            Step("txn", stdin="\nput a 1\nput a 2\n\n\n"),
            Step("txn", stdin="\nput ab 1\ndel a b\n\n\n"),
            Step("compaction", "3"),
            Step("get", "a", "--rev", "2"),
            Step("get", "a", "--rev", "1000"),
            Step("get", "a", "--rev", "3", "-w", "json"),
            Step("compaction", "2"),
            Step("compaction", "3"),
            Step("compaction", "1000"),
            Step("watch", "a", "--rev", "2"),       # canceled: compacted; etcdctl exits 5
            Step("put", "after", "ok", "-w", "json"),
            Step("get", "", "--from-key", "-w", "json"),
        ])
        self.assertSubjectAlive()


class NoSpace(harness.ServerPairTest):
    SERVER_FLAGS = ("--quota-backend-bytes", str(1 << 20))
    VALUE = b"q" * 100_000
    MAX_PUTS = 300

    def fill(self, server):
        """Puts 100 kB values until the server refuses; returns (count, error)."""
        with server.channel() as ch:
            kv = rpc.KVStub(ch)
            for i in range(self.MAX_PUTS):
                err = grpc_error(lambda: kv.Put(rpc.PutRequest(key=b"fill/%04d" % i, value=self.VALUE),
                                                timeout=10))
                if err is not None:
                    return i, err
        return self.MAX_PUTS, None

    def after_full(self, server):
        """What a client sees once the quota is hit: small writes refused, reads,
        read-only txns and deletes still served."""
        with server.channel() as ch:
            kv = rpc.KVStub(ch)
            return {
                "small put": grpc_error(lambda: kv.Put(rpc.PutRequest(key=b"small", value=b"x"),
                                                       timeout=5)),
                "txn with put": grpc_error(lambda: kv.Txn(rpc.TxnRequest(success=[put_op(b"small")]),
                                                          timeout=5)),
                "range": grpc_error(lambda: kv.Range(rpc.RangeRequest(key=b"fill/0000"), timeout=5)),
                "read-only txn": grpc_error(lambda: kv.Txn(
                    rpc.TxnRequest(success=[range_op(b"fill/0001")]), timeout=5)),
                "delete": grpc_error(lambda: kv.DeleteRange(rpc.DeleteRangeRequest(key=b"fill/0000"),
                                                            timeout=5)),
                "value still readable": kv.Range(rpc.RangeRequest(key=b"fill/0001"),
                                                 timeout=5).kvs[0].value == self.VALUE,
            }

    def test_nospace(self):
        ref_count, ref_err = self.fill(self.ref)
        subj_count, subj_err = self.fill(self.subj)
        self.assertEqual(ref_err, NO_SPACE, "[harness] etcd did not hit its quota")
        self.assertEqual(subj_err, NO_SPACE,
                         f"after {subj_count} puts of 100 kB with --quota-backend-bytes=1MiB "
                         f"(etcd refused after {ref_count})")
        self.assertTrue(self.subj.running(), self.subj.log_tail())
        ref_after, subj_after = self.after_full(self.ref), self.after_full(self.subj)
        self.assertEqual(ref_after, {"small put": NO_SPACE, "txn with put": NO_SPACE, "range": OK,
                                     "read-only txn": OK, "delete": OK, "value still readable": True})
        self.assertEqual(subj_after, ref_after)
        self.compare([
            Step("alarm", "list"),
            Step("put", "k", "v"),
            Step("get", "fill/0001", "--keys-only"),
        ])
        ref_recovery, subj_recovery = self.recover(self.ref), self.recover(self.subj)
        self.assertEqual(ref_recovery["put after disarm"], OK, f"[harness] etcd: {ref_recovery}")
        self.assertEqual(subj_recovery, ref_recovery)

    def recover(self, server):
        """The documented way out of NOSPACE: free space, compact, defragment, disarm."""
        out = {}
        with server.channel() as ch:
            kv, maint = rpc.KVStub(ch), rpc.MaintenanceStub(ch)
            resp = kv.DeleteRange(rpc.DeleteRangeRequest(key=b"fill/", range_end=b"fill0"), timeout=10)
            out["compact"] = grpc_error(lambda: kv.Compact(
                rpc.CompactionRequest(revision=resp.header.revision, physical=True), timeout=10))
            out["defragment"] = grpc_error(lambda: maint.Defragment(rpc.DefragmentRequest(),
                                                                    timeout=30))
            out["put while still alarmed"] = grpc_error(lambda: kv.Put(
                rpc.PutRequest(key=b"k", value=b"v"), timeout=5))
            alarms = maint.Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.GET), timeout=5).alarms
            out["alarms"] = [a.alarm for a in alarms]
            for a in alarms:
                out[f"disarm {a.alarm}"] = grpc_error(lambda: maint.Alarm(rpc.AlarmRequest(
                    action=rpc.AlarmRequest.DEACTIVATE, memberID=a.memberID, alarm=a.alarm), timeout=5))
            out["alarms after disarm"] = [a.alarm for a in maint.Alarm(
                rpc.AlarmRequest(action=rpc.AlarmRequest.GET), timeout=5).alarms]
            out["put after disarm"] = grpc_error(lambda: kv.Put(
                rpc.PutRequest(key=b"k", value=b"v"), timeout=5))
        return out


if __name__ == "__main__":
    harness.main_or_skip()
