#!/usr/bin/python3
"""Crash test: kill -9 the server during a stream of acknowledged puts.

Eight python3-etcd3 writers write unique keys concurrently and record every
write the server acknowledged (key, value, revision in the response header):
six do single puts, two do txns that put a pair of keys.  The server is killed
with SIGKILL mid-stream (at a random moment; the seed is printed) and
restarted on the same data dir.  After restart:
  * every acknowledged write is readable with its value, and its create and
    mod revision equal the revision the server acknowledged;
  * revisions are consistent: every key was written once and nothing was
    deleted, so the distinct mod revisions are exactly 2..current revision
    (no hole; unacknowledged in-flight writes may or may not be there, but if
    there they take a slot like any other);
  * txns are atomic: of each pair, both keys are there (same revision) or neither;
  * the next write gets current revision + 1.
Repeated for a few rounds on the same data dir.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402

WRITERS = 8
TXN_WRITERS = 2          # the last two writers use txns of two puts
ROUNDS = 3
RUN_BEFORE_KILL_S = (0.5, 2.0)
SEED = int(os.environ.get("COMPAT_SEED", random.randrange(1 << 30)))
MIN_ACKS_BEFORE_KILL = 50


class Writer(threading.Thread):
    def __init__(self, server, round_no, writer_no, stop):
        super().__init__(daemon=True, name=f"writer-{round_no}-{writer_no}")
        self.server = server
        self.round_no = round_no
        self.writer_no = writer_no
        self.stop = stop
        self.acked = []          # (key, value, revision)
        self.first_error = None

    def run(self):
        client = self.server.client(timeout=3)
        uses_txn = self.writer_no >= WRITERS - TXN_WRITERS
        try:
            i = 0
            while not self.stop.is_set():
                key = f"crash/r{self.round_no}/w{self.writer_no}/{i:06d}".encode()
                value = f"value {self.round_no}.{self.writer_no}.{i} {time.monotonic_ns()}".encode()
                try:
                    if uses_txn:
                        # python3-etcd3's transaction() hides the header, so go one
                        # level down to its stub for the acknowledged revision.
                        written = [(key + b"/a", value + b"/a"), (key + b"/b", value + b"/b")]
                        resp = client.kvstub.Txn(rpc.TxnRequest(success=[
                            rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=v))
                            for k, v in written]), timeout=3)
                        if not resp.succeeded:
                            raise AssertionError("txn without compares did not succeed")
                        rev = resp.header.revision
                    else:
                        resp = client.put(key, value)
                        rev = resp.header.revision
                        written = [(key, value)]
                except Exception as e:  # noqa: BLE001 - any failure ends the stream
                    self.first_error = e
                    return
                for k, v in written:
                    self.acked.append((k, v, rev))
                i += 1
        finally:
            client.close()


def read_everything(server):
    with server.channel() as ch:
        resp = rpc.KVStub(ch).Range(rpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=10)
    return resp.header.revision, {kv.key: kv for kv in resp.kvs}


class CrashTest(harness.unittest.TestCase):

    def setUp(self):
        self.tmp = harness.TempDirs()
        self.addCleanup(self.tmp.cleanup)
        self.server = harness.make_subject(self.tmp, name="crash")
        self.addCleanup(self.server.kill)

    def run_writers_and_kill(self, round_no):
        stop = threading.Event()
        writers = [Writer(self.server, round_no, w, stop) for w in range(WRITERS)]
        for w in writers:
            w.start()
        deadline = time.monotonic() + 20
        time.sleep(self.rng.uniform(*RUN_BEFORE_KILL_S))
        while sum(len(w.acked) for w in writers) < MIN_ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.1)
        self.server.kill9()
        stop.set()
        for w in writers:
            w.join(15)
            self.assertFalse(w.is_alive(), f"{w.name} hung after the server was killed")
        return writers

    def verify(self, acked_all, round_no):
        current, store = read_everything(self.server)
        problems = []
        acked_revs = [rev for _, _, rev in acked_all]
        acked_by_rev = {}
        for key, _, rev in acked_all:
            acked_by_rev.setdefault(rev, set()).add(key.rsplit(b"/", 1)[0] if key.endswith((b"/a", b"/b"))
                                                    else key)
        shared = {rev: keys for rev, keys in acked_by_rev.items() if len(keys) > 1}
        if shared:
            problems.append(f"different writes acknowledged with the same revision: "
                            f"{list(shared.items())[:5]}")
        if acked_revs and max(acked_revs) > current:
            problems.append(f"acknowledged revision {max(acked_revs)} > current revision {current}")
        missing = []
        for key, value, rev in acked_all:
            kv = store.get(key)
            if kv is None:
                missing.append(key)
                continue
            if kv.value != value:
                problems.append(f"{key!r}: value {kv.value!r}, acknowledged {value!r}")
            if kv.mod_revision != rev or kv.create_revision != rev or kv.version != 1:
                problems.append(f"{key!r}: create/mod/version {kv.create_revision}/{kv.mod_revision}/"
                                f"{kv.version}, acknowledged at revision {rev} (version 1)")
        if missing:
            problems.append(f"{len(missing)} of {len(acked_all)} acknowledged puts lost after kill -9, "
                            f"e.g. {missing[:5]}")
        mod_revs = sorted(set(kv.mod_revision for kv in store.values()))
        if mod_revs != list(range(2, current + 1)):
            holes = sorted(set(range(2, current + 1)) - set(mod_revs))
            problems.append(f"revisions not contiguous: {len(store)} keys, current revision {current}, "
                            f"missing revisions {holes[:10]}")
        by_rev = {}
        for kv in store.values():
            by_rev.setdefault(kv.mod_revision, []).append(kv.key)
        for key, kv in store.items():
            if key.endswith(b"/a") or key.endswith(b"/b"):
                partner = key[:-1] + (b"b" if key.endswith(b"/a") else b"a")
                other = store.get(partner)
                if other is None or other.mod_revision != kv.mod_revision:
                    problems.append(f"txn not atomic: {key!r} at {kv.mod_revision}, partner "
                                    f"{partner!r} {'missing' if other is None else other.mod_revision}")
            elif len(by_rev[kv.mod_revision]) != 1:
                problems.append(f"revision {kv.mod_revision} shared by {by_rev[kv.mod_revision]}")
        harness.fail_if_any(self, problems, f"round {round_no} (seed {SEED}):\n" + "\n".join(problems[:30]))
        return current

    def test_kill9_keeps_acknowledged_puts(self):
        print(f"crash test seed {SEED} (rerun with COMPAT_SEED={SEED})", file=sys.stderr)
        self.rng = random.Random(SEED)
        acked_all = []
        self.server.start()
        for round_no in range(ROUNDS):
            writers = self.run_writers_and_kill(round_no)
            acked = [a for w in writers for a in w.acked]
            self.assertGreater(len(acked), 0, f"round {round_no}: no put was acknowledged; "
                               f"first error: {writers[0].first_error}\n{self.server.log_tail()}")
            acked_all += acked
            self.server.start()
            current = self.verify(acked_all, round_no)
            print(f"round {round_no}: {len(acked)} acknowledged puts, current revision {current}",
                  file=sys.stderr)
            c = self.server.client()
            try:
                rev = c.put(f"crash/after-restart/{round_no}", "x").header.revision
            finally:
                c.close()
            self.assertEqual(rev, current + 1, "first write after restart")
            acked_all.append((f"crash/after-restart/{round_no}".encode(), b"x", rev))
        self.server.stop()


if __name__ == "__main__":
    harness.main_or_skip()
