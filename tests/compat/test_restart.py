#!/usr/bin/python3
"""Clean restart: data, revisions and compaction survive SIGTERM + restart,
and SIGTERM is a graceful shutdown (exit code 0).

The same history is also played on a reference etcd, so the state before the
restart is checked against etcd (revision numbering included), and the state
after the restart against the state before.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Step  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402

COMPACT_AT = 6


def history(server):
    c = server.client()
    try:
        c.put("a", "1")            # 2
        c.put("b", "1")            # 3
        c.put("a", "2")            # 4
        c.put("c", "1")            # 5
        c.delete("b")              # 6
        c.put("a", "3")            # 7
        c.put("dir/x", "x")        # 8
        c.put("dir/y", "y")        # 9
        c.compact(COMPACT_AT, physical=True)
        c.put("b", "2")            # 10
        c.delete_prefix("dir/")    # 11
    finally:
        c.close()


def observe(server):
    """Everything a client can tell about the stored state, header identities aside."""
    out = []
    with server.channel() as ch:
        kv = rpc.KVStub(ch)

        def rng(**kw):
            resp = kv.Range(rpc.RangeRequest(**kw), timeout=5)
            return (resp.header.revision, resp.count,
                    [(x.key, x.value, x.create_revision, x.mod_revision, x.version, x.lease)
                     for x in resp.kvs])

        every = dict(key=b"\0", range_end=b"\0")
        out.append(("current", rng(**every)))
        for rev in range(COMPACT_AT - 1, 13):
            out.append((f"at revision {rev}", harness.grpc_error(lambda: rng(revision=rev, **every))
                        or rng(revision=rev, **every)))
        out.append(("compact at compacted revision",
                    harness.grpc_error(lambda: kv.Compact(rpc.CompactionRequest(revision=COMPACT_AT),
                                                          timeout=5))))
    return out


class RestartTest(harness.unittest.TestCase):

    def setUp(self):
        self.tmp = harness.TempDirs()
        self.addCleanup(self.tmp.cleanup)
        self.ref = harness.make_reference(self.tmp)
        self.subj = harness.make_subject(self.tmp, name="restart")
        self.addCleanup(self.ref.kill)
        self.addCleanup(self.subj.kill)

    def assertGracefulExit(self, rc, what):
        if self.subj.kind == "etcd":
            # Real etcd re-raises the signal after cleanup instead of exiting 0.
            self.assertIn(rc, (0, -signal.SIGTERM), what)
        else:
            self.assertEqual(rc, 0, f"{what}: exit code {rc}\n{self.subj.log_tail()}")

    def test_state_survives_sigterm_restart(self):
        self.ref.start()
        self.subj.start()
        history(self.ref)
        history(self.subj)
        expected = observe(self.ref)
        before = observe(self.subj)
        self.assertEqual(before, expected, "state differs from etcd before any restart")

        for attempt in range(2):
            rc = self.subj.stop(signal.SIGTERM)
            self.assertGracefulExit(rc, f"SIGTERM #{attempt + 1}")
            self.subj.start()
            after = observe(self.subj)
            self.assertEqual(after, before, f"state changed across clean restart #{attempt + 1}")

        c = self.subj.client()
        try:
            self.assertEqual(c.put("post-restart", "v").header.revision, 12)
        finally:
            c.close()
        ref_ctl = harness.run_script(self.ref, [Step("put", "post-restart", "v")])
        self.assertEqual(ref_ctl[0].rc, 0)
        self.compare_etcdctl_views()
        rc = self.subj.stop(signal.SIGTERM)
        self.assertGracefulExit(rc, "final SIGTERM")

    def compare_etcdctl_views(self):
        steps = [Step("get", "", "--from-key", "-w", "json"),
                 Step("get", "a", "--rev", str(COMPACT_AT)),
                 Step("get", "a", "--rev", str(COMPACT_AT - 1))]
        diffs = harness.compare_scripts(steps, harness.run_script(self.ref, steps),
                                        harness.run_script(self.subj, steps))
        harness.fail_if_any(self, diffs, "\n".join(diffs))

    def test_sigterm_while_idle_is_quick_and_clean(self):
        self.subj.start()
        rc = self.subj.stop(signal.SIGTERM, timeout=10)
        self.assertIsNotNone(rc, f"did not exit within 10 s of SIGTERM\n{self.subj.log_tail()}")
        self.assertGracefulExit(rc, "SIGTERM")


if __name__ == "__main__":
    harness.main_or_skip()
