#!/usr/bin/python3
"""etcdctl 3.4's watch and lease commands against cairnd, compared with etcd 3.4.

Each test plays the same etcdctl session on a fresh etcd and a fresh cairnd
and compares what etcdctl printed (stdout, exit code, the "Error:" lines of
stderr), after replacing lease IDs by their order of appearance and header
identities (cluster/member id, raft term) by placeholders. Revisions are not
normalised: cairnd numbers them like etcd. A lease's remaining TTL is checked
to be within a second of its grant on each side, then normalised.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_harness as h  # noqa: E402

WATCH_SETTLE_S = 1.0  # a plain `etcdctl watch` prints nothing when its watch is created


class Session:
    """Runs etcdctl commands on one server and records normalised outputs."""

    def __init__(self, test, server):
        self.test = test
        self.server = server
        self.lease_ids = []
        self.record = []

    def norm(self, text):
        for n, lease_id in enumerate(self.lease_ids):
            for form in (format(lease_id, "016x"), format(lease_id, "x"), str(lease_id)):
                text = text.replace(form, f"<lease-{n}>")
        text = re.sub(r'"(cluster_id|member_id|raft_term)":\d+', r'"\1":<id>', text)
        return text

    def check_remaining(self, text):
        """remaining(Ns) / "ttl":N must be within 2 s of the granted TTL; then normalised."""
        for granted, remaining in re.findall(r"TTL\((\d+)s\), remaining\((-?\d+)s\)", text):
            self.test.assertTrue(int(granted) - 2 <= int(remaining) <= int(granted),
                                 f"{self.server.binary}: remaining {remaining} of {granted}: {text}")
        for remaining, granted in re.findall(r'"ttl":(-?\d+),"granted-ttl":(\d+)', text):
            self.test.assertTrue(int(granted) - 2 <= int(remaining) <= int(granted),
                                 f"{self.server.binary}: ttl {remaining} of {granted}: {text}")
        text = re.sub(r"remaining\(\d+s\)", "remaining(<n>s)", text)
        # etcd keeps a lease's keys in a Go map: their order is arbitrary, so compare them sorted.
        text = re.sub(r"attached keys\(\[([^\]]*)\]\)",
                      lambda m: "attached keys([" + " ".join(sorted(m.group(1).split(" "))) + "])", text)
        text = re.sub(r'"keys":\[([^\]]*)\]',
                      lambda m: '"keys":[' + ",".join(sorted(m.group(1).split(","))) + "]", text)
        return re.sub(r'"ttl":\d+,"granted-ttl"', '"ttl":<n>,"granted-ttl"', text)

    def ctl(self, *args, stdin=""):
        r = h.etcdctl(self.server, *[a.format(*self.hex_ids()) for a in args], stdin=stdin)
        errors = "\n".join(line for line in r.err.splitlines() if line.startswith("Error"))
        out = self.check_remaining(self.norm(r.out))
        self.record.append((" ".join(args), r.rc, out, self.norm(errors)))
        return r

    def hex_ids(self):
        return [format(i, "x") for i in self.lease_ids]

    def grant(self, ttl):
        r = self.ctl("lease", "grant", str(ttl))
        self.test.assertEqual(r.rc, 0, r)
        self.lease_ids.append(h.lease_id_from_grant(r.out))
        # Re-normalise the grant line now that its id is known.
        cmd, rc, _, err = self.record[-1]
        self.record[-1] = (cmd, rc, self.norm(r.out), err)

    def stream(self, label, args, expect_lines, then=None, more_lines=0, settle=0.0, stdin=None):
        """Runs a streaming etcdctl; waits for expect_lines, runs `then`, waits for more_lines more."""
        s = h.CtlStream(self.server, *args)
        try:
            if stdin:
                s.send(stdin)
            if settle:
                time.sleep(settle)
            s.wait_lines(expect_lines, timeout=10)
            if then:
                then()
                s.wait_lines(expect_lines + more_lines, timeout=10)
            time.sleep(0.3)  # anything beyond what was expected shows up now
        finally:
            lines, err = s.stop()
        self.record.append((label, "stream", self.norm("\n".join(lines)),
                            "\n".join(x for x in err.splitlines() if x.startswith("Error"))))
        return lines


class EtcdctlWatchLeaseTest(h.E2eTest):

    def setUp(self):
        super().setUp()
        self.ref = self.server("reference", name="etcd")
        self.subj = self.server("subject", name="cairnd")

    def compare(self, play):
        ref, subj = Session(self, self.ref), Session(self, self.subj)
        play(ref)
        play(subj)
        diffs = []
        for a, b in zip(ref.record, subj.record):
            if a != b:
                diffs.append(f"step {a[0]!r}:\n  etcd:   {a[1:]!r}\n  cairnd: {b[1:]!r}")
        self.assertEqual(len(ref.record), len(subj.record))
        for label, rc, out, _ in ref.record:  # the reference itself must have printed something
            if rc == "stream":
                self.assertTrue(out.strip(), f"etcd printed nothing for {label!r}")
        if diffs:
            self.fail(f"{len(diffs)} of {len(ref.record)} steps differ:\n" + "\n".join(diffs))
        self.assertTrue(self.subj.running(), self.subj.log_tail())

    def test_watch_history_with_rev_prefix_and_prev_kv(self):
        def play(s):
            s.ctl("put", "/p/a", "1")           # 2
            s.ctl("put", "/p/b", "1")           # 3
            s.ctl("put", "/q", "x")             # 4
            s.ctl("put", "/p/a", "2")           # 5
            s.ctl("del", "/p/b")                # 6
            s.ctl("put", "/p/c", "3")           # 7
            s.stream("watch --prefix /p/ --rev 2", ["watch", "--prefix", "/p/", "--rev", "2"], 15,
                     then=lambda: s.ctl("put", "/p/live", "L"), more_lines=3)
            s.stream("watch --prefix /p/ --rev 3 --prev-kv",
                     ["watch", "--prefix", "/p/", "--rev", "3", "--prev-kv"], 16)
            s.stream("watch /p/a --rev 1", ["watch", "/p/a", "--rev", "1"], 6)
            s.stream("watch /p/a --rev 1 -w json", ["watch", "/p/a", "--rev", "1", "-w", "json"], 1)
            s.stream("watch /p/ /p/c --rev 2 (range)", ["watch", "/p/", "/p/c", "--rev", "2"], 12)
        self.compare(play)

    def test_watch_live_key_and_prefix(self):
        def play(s):
            s.ctl("put", "foo", "v1")

            def writes():
                s.ctl("put", "foo", "v2")
                s.ctl("put", "food", "x")       # not the key: only the prefix watch sees it
                s.ctl("del", "foo")
            s.stream("watch foo --prev-kv (live)", ["watch", "foo", "--prev-kv"], 0,
                     then=writes, more_lines=10, settle=WATCH_SETTLE_S)
            s.stream("watch --prefix foo (live)", ["watch", "--prefix", "foo"], 0,
                     then=writes, more_lines=9, settle=WATCH_SETTLE_S)
        self.compare(play)

    def test_watch_interactive(self):
        def play(s):
            def writes():
                s.ctl("put", "foo", "v1")
                s.ctl("put", "bar/1", "b")
                s.ctl("put", "other", "o")
                s.ctl("del", "foo")
            s.stream("watch -i", ["watch", "-i"], 0, then=writes, more_lines=12,
                     settle=WATCH_SETTLE_S, stdin="watch foo\nwatch --prefix bar/\nwatch --rev 1 other\n")
        self.compare(play)

    def test_lease_lifecycle(self):
        def play(s):
            s.grant(60)
            s.grant(120)
            s.ctl("put", "--lease={0}", "svc/a", "1")
            s.ctl("put", "--lease={0}", "svc/b", "2")
            s.ctl("put", "--lease={1}", "svc/c", "3")
            s.ctl("lease", "timetolive", "{0}", "--keys")
            s.ctl("lease", "timetolive", "{0}", "--keys", "-w", "json")
            s.ctl("lease", "timetolive", "{1}")
            s.ctl("lease", "list")
            s.ctl("lease", "keep-alive", "--once", "{0}")
            s.ctl("lease", "keep-alive", "--once", "{1}")
            s.ctl("lease", "revoke", "{0}")
            s.ctl("get", "svc/", "--prefix")
            s.ctl("lease", "timetolive", "{0}", "--keys")
            s.ctl("lease", "list")
            s.ctl("lease", "revoke", "{0}")
            s.ctl("lease", "keep-alive", "--once", "{0}")
            s.ctl("put", "--lease={0}", "svc/d", "4")
            s.ctl("put", "--lease=1234abcd", "svc/e", "5")
            s.ctl("lease", "timetolive", "1234abcd")
            s.ctl("lease", "revoke", "{1}")
            s.ctl("get", "svc/", "--prefix")
            s.ctl("lease", "list")
            s.ctl("get", "svc/", "--prefix", "-w", "json", "--rev", "5")
        self.compare(play)

    def test_lease_expiry_deletes_keys_and_watch_sees_delete(self):
        def play(s):
            s.grant(2)  # the minimum TTL with the default election timeout
            s.ctl("put", "--lease={0}", "exp/k", "v")
            s.stream("watch exp/k --rev 2 until the lease expires", ["watch", "exp/k", "--rev", "2"], 6,
                     settle=0.0)
            s.ctl("get", "exp/k")
            s.ctl("lease", "timetolive", "{0}")
        self.compare(play)


if __name__ == "__main__":
    h.main()
