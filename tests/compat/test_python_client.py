#!/usr/bin/python3
"""Debian's python3-etcd3 (0.12) against etcd 3.4 and the server under test.

Each scenario runs the same client calls against a fresh etcd and a fresh
subject, records what the client observes (values, revisions, versions,
booleans, exceptions) and requires the two records to be equal.  Revisions
are compared as they are; only header identities are masked.
"""

import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import etcd3  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402
import grpc  # noqa: E402


def meta(m):
    if m is None:
        return None
    return (m.key, m.create_revision, m.mod_revision, m.version, m.lease_id)


def kvs(pairs):
    return [(value, meta(m)) for value, m in pairs]


def header(h):
    return ("rev", h.revision)


def guarded(record, name, fn):
    """Records fn()'s result, or the exception class and text it raised."""
    try:
        record.append((name, fn()))
    except grpc.RpcError as e:
        record.append((name, "raised", e.code().name, e.details()))
    except Exception as e:  # noqa: BLE001 - the exception is the observation
        record.append((name, "raised", type(e).__name__, str(e)))


def seed(c):
    for k, v in [("b", "zeta"), ("a", "mu"), ("ab", "alpha"), ("abc", "omega"), ("c", "beta"),
                 ("a", "gamma"), ("b", "delta"), ("b", "epsilon"), ("dir/1", "one"),
                 ("dir/2", "two"), ("dir/3", "three")]:
        c.put(k, v)


def scenario_kv(c):
    r = []
    guarded(r, "put", lambda: header(c.put("k", "v1").header))
    guarded(r, "put prev_kv", lambda: (lambda resp: (header(resp.header), resp.prev_kv.value,
                                                      resp.prev_kv.version))(
        c.put("k", "v2", prev_kv=True)))
    guarded(r, "get", lambda: (lambda v, m: (v, meta(m)))(*c.get("k")))
    guarded(r, "get missing", lambda: c.get("missing"))
    seed(c)
    guarded(r, "get_prefix a", lambda: kvs(c.get_prefix("a")))
    guarded(r, "get_prefix dir/", lambda: kvs(c.get_prefix("dir/")))
    for order in ("ascend", "descend"):
        for target in ("key", "create", "mod", "value", "version"):
            guarded(r, f"get_prefix sort {target} {order}",
                    lambda: [m.key for _, m in c.get_all(sort_order=order, sort_target=target)])
            guarded(r, f"get_prefix a sort {target} {order}",
                    lambda: [m.key for _, m in c.get_prefix("a", sort_order=order,
                                                              sort_target=target)])
    guarded(r, "get_prefix limited", lambda: kvs(c.get_prefix("a", limit=2)))
    guarded(r, "get_range", lambda: kvs(c.get_range("a", "c")))
    guarded(r, "get_all", lambda: kvs(c.get_all()))
    guarded(r, "get_prefix keys_only", lambda: kvs(c.get_prefix("dir/", keys_only=True)))
    guarded(r, "put_if_not_exists new", lambda: c.put_if_not_exists("fresh", "1"))
    guarded(r, "put_if_not_exists existing", lambda: c.put_if_not_exists("fresh", "2"))
    guarded(r, "replace matching", lambda: c.replace("fresh", "1", "2"))
    guarded(r, "replace stale", lambda: c.replace("fresh", "1", "3"))
    guarded(r, "get fresh", lambda: (lambda v, m: (v, meta(m)))(*c.get("fresh")))
    guarded(r, "delete existing", lambda: c.delete("c"))
    guarded(r, "delete missing", lambda: c.delete("c"))
    guarded(r, "delete prev_kv", lambda: (lambda resp: (header(resp.header), resp.deleted,
                                                         [kv.value for kv in resp.prev_kvs]))(
        c.delete("ab", prev_kv=True, return_response=True)))
    guarded(r, "delete_prefix", lambda: (lambda resp: (header(resp.header), resp.deleted))(
        c.delete_prefix("dir/")))
    guarded(r, "delete_prefix none", lambda: c.delete_prefix("nothing/").deleted)
    guarded(r, "binary key and value", lambda: header(c.put(b"\x00\xffbin", b"\x01\x02\x00").header))
    guarded(r, "get binary", lambda: (lambda v, m: (v, meta(m)))(*c.get(b"\x00\xffbin")))
    guarded(r, "get_all final", lambda: kvs(c.get_all()))
    return r


def scenario_txn(c):
    r = []
    seed(c)
    t = c.transactions
    guarded(r, "txn value ==", lambda: c.transaction(
        compare=[t.value("a") == "gamma"],
        success=[t.put("a", "txn1"), t.get("b")],
        failure=[t.put("a", "never")]))
    guarded(r, "txn value == fails", lambda: c.transaction(
        compare=[t.value("a") == "gamma"],
        success=[t.put("a", "never")],
        failure=[t.get("a"), t.delete("c")]))
    guarded(r, "txn version/create/mod", lambda: c.transaction(
        compare=[t.version("b") == 3, t.create("b") > 0, t.mod("b") < 1000],
        success=[t.put("b", "txn2")],
        failure=[]))
    guarded(r, "txn create == 0 (absent)", lambda: c.transaction(
        compare=[t.create("nope") == 0],
        success=[t.put("nope", "now")],
        failure=[]))
    guarded(r, "txn !=", lambda: c.transaction(
        compare=[t.value("nope") != "now"],
        success=[],
        failure=[t.get("nope"), t.delete("dir/1")]))
    guarded(r, "txn < >", lambda: c.transaction(
        compare=[t.value("a") > "a", t.version("nope") < 2],
        success=[t.put("x", "1"), t.put("y", "2"), t.get("a")],
        failure=[]))
    guarded(r, "txn nested", lambda: c.transaction(
        compare=[],
        success=[t.txn(compare=[t.value("x") == "1"], success=[t.put("z", "3")], failure=[])],
        failure=[]))
    guarded(r, "get_all", lambda: kvs(c.get_all()))
    return r


IDENTITY_TEXT_RE = re.compile(r"(cluster_id|member_id|raft_term): \d+")


def masked_txn(record):
    """Txn results hold protobuf messages; compare their text with headers masked."""
    out = []
    for entry in record:
        if len(entry) == 2 and isinstance(entry[1], tuple) and len(entry[1]) == 2 \
                and isinstance(entry[1][1], list):
            ok, responses = entry[1]
            texts = []
            for resp in responses:
                if isinstance(resp, list):      # get inside txn: [(value, meta)]
                    texts.append(kvs(resp))
                else:
                    texts.append(IDENTITY_TEXT_RE.sub(r"\1: <id>", str(resp)))
            out.append((entry[0], ok, texts))
        else:
            out.append(entry)
    return out


def scenario_raw_range(server):
    """RangeRequest fields python3-etcd3 and etcdctl 3.4 can't reach."""
    r = []
    with server.channel() as ch:
        kv = rpc.KVStub(ch)
        c = server.client()
        try:
            seed(c)
        finally:
            c.close()

        def rng(**kw):
            resp = kv.Range(rpc.RangeRequest(**kw), timeout=5)
            return (resp.header.revision, resp.count, resp.more,
                    [(x.key, x.value, x.create_revision, x.mod_revision, x.version) for x in resp.kvs])

        every = dict(key=b"\0", range_end=b"\0")
        cases = {
            "count_only all": dict(count_only=True, **every),
            "count_only prefix": dict(key=b"a", range_end=b"b", count_only=True),
            "limit more": dict(limit=3, **every),
            "limit count": dict(limit=1, key=b"dir/", range_end=b"dir0"),
            "keys_only": dict(keys_only=True, key=b"a", range_end=b"b"),
            "min_mod_revision": dict(min_mod_revision=7, **every),
            "max_mod_revision": dict(max_mod_revision=5, **every),
            "min_create_revision": dict(min_create_revision=6, **every),
            "max_create_revision": dict(max_create_revision=4, **every),
            "serializable": dict(serializable=True, key=b"a"),
            "revision + count_only": dict(revision=4, count_only=True, **every),
            "sort value desc limit": dict(sort_order=rpc.RangeRequest.DESCEND,
                                          sort_target=rpc.RangeRequest.VALUE, limit=2, **every),
            "sort none by key": dict(sort_order=rpc.RangeRequest.NONE, **every),
            "sort version asc": dict(sort_order=rpc.RangeRequest.ASCEND,
                                     sort_target=rpc.RangeRequest.VERSION, **every),
            "from key b": dict(key=b"b", range_end=b"\0"),
        }
        for name, kw in cases.items():
            guarded(r, name, lambda: rng(**kw))
    return r


def scenario_compact(c):
    r = []
    seed(c)
    guarded(r, "compact", lambda: c.compact(5))
    guarded(r, "get at compacted revision", lambda: c.get_response("a").header.revision)
    guarded(r, "compact physical", lambda: c.compact(8, physical=True))
    guarded(r, "compact again", lambda: c.compact(8))
    guarded(r, "get_all", lambda: kvs(c.get_all()))
    return r


def scenario_lease(c):
    r = []
    lease = c.lease(60, lease_id=4242)
    r.append(("lease", lease.id, lease.ttl))
    guarded(r, "put with lease", lambda: header(c.put("leased", "v", lease=lease).header))
    guarded(r, "get leased", lambda: (lambda v, m: (v, meta(m)))(*c.get("leased")))
    guarded(r, "lease granted_ttl", lambda: lease.granted_ttl)
    guarded(r, "lease keys", lambda: lease.keys)
    guarded(r, "lease refresh ttl", lambda: [x.TTL for x in lease.refresh()])
    guarded(r, "revoke", lambda: lease.revoke())
    guarded(r, "get after revoke", lambda: c.get("leased"))
    guarded(r, "revision after revoke", lambda: c.get_response("x").header.revision)
    return r


def scenario_watch(c):
    """A prefix watch from a past revision sees the history, then live events."""
    r = []
    seed(c)
    events = []
    done = threading.Event()

    def callback(resp):
        if isinstance(resp, Exception):
            events.append(("error", type(resp).__name__))
            done.set()
            return
        for e in resp.events:
            events.append((type(e).__name__, e.key, e.value, e.mod_revision))
        if len(events) >= 5:
            done.set()

    watch_id = c.add_watch_prefix_callback("dir/", callback, start_revision=9)
    c.put("dir/4", "four")
    c.delete("dir/1")
    done.wait(10)
    c.cancel_watch(watch_id)
    r.append(("events", events))
    if os.environ.get("COMPAT_VERBOSE"):
        print("watch events:", events, file=sys.stderr)
    return r


class PythonClient(harness.ServerPairTest):

    def run_both(self, scenario, normalise=lambda x: x):
        results = []
        for server in self.servers():
            c = server.client()
            try:
                results.append(normalise(scenario(c)))
            finally:
                c.close()
        ref, subj = results
        diffs = [f"{a[0]}:\n   etcd:    {a[1:]}\n   subject: {b[1:]}"
                 for a, b in zip(ref, subj) if a != b]
        if len(ref) != len(subj):
            diffs.append(f"record lengths differ: {len(ref)} vs {len(subj)}")
        harness.fail_if_any(self, diffs, f"{len(diffs)} observations differ (etcd vs {self.subj.kind}):\n"
                         + "\n".join(diffs))
        return ref

    def test_kv(self):
        ref = self.run_both(scenario_kv)
        self.assertEqual(dict(ref)["get missing"], (None, None))

    def test_transaction(self):
        ref = self.run_both(scenario_txn, masked_txn)
        self.assertTrue(ref[0][1], "[harness] first txn should succeed on etcd")

    def test_raw_range_options(self):
        results = [scenario_raw_range(s) for s in self.servers()]
        diffs = [f"{a[0]}:\n   etcd:    {a[1:]}\n   subject: {b[1:]}"
                 for a, b in zip(*results) if a != b]
        harness.fail_if_any(self, diffs, "\n".join(diffs))

    def test_compact(self):
        self.run_both(scenario_compact)

    def test_lease(self):
        self.run_both(scenario_lease)

    def test_watch(self):
        self.run_both(scenario_watch)

    def test_hash(self):
        # Maintenance.Hash covers the whole store: it answers, and a write changes it.
        c = self.subj.client()
        try:
            before = c.hash()
            c.put("hash-key", "v")
            after = c.hash()
            self.assertIsInstance(before, int)
            self.assertNotEqual(before, after)
        finally:
            c.close()

    def test_status(self):
        c = self.subj.client()
        try:
            c.put("k", "v")
            status = c.status()
            self.assertTrue(status.version, "status has no version")
            self.assertGreater(status.db_size, 0)
            self.assertIsNotNone(status.leader, "status.leader is not one of the members")
            self.assertGreaterEqual(status.raft_term, 1)
            self.assertGreater(status.raft_index, 0)
            members = list(c.members)
            self.assertEqual(len(members), 1)
            self.assertEqual(members[0].name, self.subj.name)
            self.assertEqual(list(members[0].client_urls),
                             [f"http://127.0.0.1:{self.subj.client_port}"])
            self.assertEqual(list(members[0].peer_urls),
                             [f"http://127.0.0.1:{self.subj.peer_port}"])
        finally:
            c.close()


if __name__ == "__main__":
    harness.main_or_skip()
