#!/usr/bin/python3
"""cairnctl against etcdctl 3.4: the same command against the same server must print the
same stdout, the same stderr (etcdctl's JSON log lines aside) and exit with the same code.

Read-only commands run both CLIs against one server. Commands that change the store run
etcdctl against server A and cairnctl against server B, two servers with identical
history, and compare after replacing what differs between two servers (member and
cluster IDs, client address, lease IDs). SERVER_KIND=etcd|cairnd picks the server; with
cairnd a case whose etcdctl output says the RPC is unimplemented is skipped.
"""
import concurrent.futures
import os
import re
import subprocess
import time
import unittest

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
KIND, BINARY = h.server_binary()

SEED = [
    ["put", "foo", "bar"],
    ["put", "foo1", "v1"],
    ["put", "foo2", "va l"],
    ["put", "foo3", "x"],
    ["put", "foo", "bar2"],
    ["put", "zoo", "line1\nline2"],
    ["put", "quote", 'say "hi" <&>'],
    ["put", "utf", "h\u00e9llo \u2603"],
]


class CompareTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir()
        root = cls.tmp.__enter__()
        cls.a = h.Server(KIND, BINARY, root, "a").start()
        cls.b = h.Server(KIND, BINARY, root, "b").start()
        for args in SEED:
            for srv in (cls.a, cls.b):
                out, err, rc = h.run(h.ETCDCTL, srv.endpoint, args)
                assert rc == 0, (args, out, err)
        cls.norm = h.Normaliser()
        for srv in (cls.a, cls.b):
            cluster, member = h.ids_of(srv.endpoint)
            cls.norm.add_id(cluster, "CLUSTER")
            cls.norm.add_id(member, "MEMBER")
            cls.norm.add(srv.endpoint, "<EP>")
        cls.leases = {}

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.tmp.__exit__(None, None, None)

    # ------------------------------------------------------------ helpers

    def skip_if_unimplemented(self, *texts):
        for t in texts:
            if "code = Unimplemented" in t or "unknown service" in t:
                self.skipTest(f"{KIND} does not implement this yet: {t.strip()[:120]}")

    def same_server(self, args, stdin=b"", env=None):
        want, got = self.both((h.ETCDCTL, self.a.endpoint, args, stdin, env),
                              (CAIRNCTL, self.a.endpoint, args, stdin, env))
        self.skip_if_unimplemented(want[0], want[1])
        self.assertEqual(tuple(map(self.norm_text, want[:2])) + (want[2],),
                         tuple(map(self.norm_text, got[:2])) + (got[2],), f"args: {args}")
        return got

    POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    def both(self, etcdctl_call, cairnctl_call):
        """Runs the two CLIs at the same time (they never change the same server)."""
        want = self.POOL.submit(h.run, *etcdctl_call)
        got = self.POOL.submit(h.run, *cairnctl_call)
        return want.result(), got.result()

    def mirrored(self, args, stdin=b"", env=None):
        """etcdctl against A, cairnctl against B. '{L:name}' in args is replaced by each
        server's own lease ID recorded under that name."""
        def subst(server):
            return [re.sub(r"\{L:(\w+)\}", lambda m: self.leases[(m.group(1), server)], a) for a in args]
        want, got = self.both((h.ETCDCTL, self.a.endpoint, subst("a"), stdin, env),
                              (CAIRNCTL, self.b.endpoint, subst("b"), stdin, env))
        self.skip_if_unimplemented(want[0], want[1])
        self.assertEqual(tuple(map(self.norm_text, want[:2])) + (want[2],),
                         tuple(map(self.norm_text, got[:2])) + (got[2],), f"args: {args}")
        return want, got

    @staticmethod
    def revision_of(json_text):
        return int(re.search(r'"revision":(\d+)', json_text).group(1))

    def norm_text(self, text):
        return self.norm(text)

    # ------------------------------------------------------------ read-only, one server

    def test_get_formats_and_options(self):
        for fmt in ("simple", "json", "fields", "table", "protobuf"):
            for args in (["foo"], ["foo", "--prefix"], ["foo", "foo2"], ["foo1", "--from-key"],
                         ["", "--prefix"], ["--from-key", ""], ["nothing-here"],
                         ["foo", "--prefix", "--keys-only"], ["foo", "--prefix", "--limit", "2"],
                         ["zoo"], ["quote"], ["utf"], ["foo", "--prefix", "--hex"],
                         ["foo", "--prefix", "--print-value-only"],
                         ["foo", "--consistency=s"], ["foo", "--rev", "2"]):
                self.same_server(["-w", fmt, "get"] + args)

    def test_get_sorting(self):
        for order in ("", "ASCEND", "DESCEND", "descend"):
            for target in ("", "KEY", "CREATE", "MODIFY", "VALUE", "VERSION", "version"):
                args = ["get", "foo", "--prefix"]
                if order:
                    args += ["--order", order]
                if target:
                    args += ["--sort-by", target]
                self.same_server(args)

    def test_get_bad_input(self):
        for args in (["get"], ["get", "foo", "--prefix", "--from-key"], ["get", "a", "b", "--prefix"],
                     ["get", "foo", "--consistency", "x"], ["get", "foo", "--order", "up"],
                     ["get", "foo", "--sort-by", "size"], ["get", "foo", "--rev", "999999"],
                     ["-w", "yaml", "get", "foo"],
                     ["put"], ["put", "", "v"], ["put", "k", "--lease", "zz"], ["del"],
                     ["del", "a", "b", "c"], ["compaction"], ["compaction", "x"],
                     ["get", "foo", "--prefix", "--print-value-only", "-w", "json"],
                     ["txn", "extra"], ["lease", "grant"], ["lease", "grant", "x"],
                     ["lease", "revoke", "zz"], ["lease", "timetolive"], ["member", "remove"],
                     ["member", "remove", "zz"], ["member", "add"], ["member", "add", "n"],
                     ["move-leader"], ["move-leader", "zz"], ["alarm", "list", "x"],
                     ["snapshot", "save"]):
            self.same_server(args)

    def test_flag_errors(self):
        # cobra also prints the usage text, which cairnctl does not copy: compare the error
        # line and the exit code.
        for args in (["get", "foo", "--limit", "x"], ["get", "foo", "--bogus"], ["bogus"],
                     ["put", "k", "v", "--prev-kv=maybe"], ["get", "--rev"]):
            want = h.run(h.ETCDCTL, self.a.endpoint, args)
            got = h.run(CAIRNCTL, self.a.endpoint, args)
            want_err = [l for l in want[1].splitlines() if l.startswith("Error:")][-1]
            got_err = [l for l in got[1].splitlines() if l.startswith("Error:")][-1]
            got_err = got_err.replace('for "cairnctl"', 'for "etcdctl"')
            self.assertEqual((want_err, want[2]), (got_err, got[2]), f"args: {args}")

    def test_cluster_views(self):
        for fmt in ("simple", "json", "fields", "table"):
            for args in (["member", "list"], ["endpoint", "status"], ["endpoint", "hashkv"],
                         ["endpoint", "health"], ["alarm", "list"], ["endpoint", "status", "--cluster"],
                         ["endpoint", "hashkv", "--rev", "3"]):
                if fmt == "fields" and args == ["alarm", "list"]:
                    continue  # etcdctl 3.4 dereferences the missing header and panics
                self.same_server(["-w", fmt] + args)

    def test_member_update(self):
        out, err, rc = h.run(h.ETCDCTL, self.a.endpoint, ["member", "list"])
        self.assertEqual(rc, 0, err)
        member_hex, _, _, peer = [f.strip() for f in out.splitlines()[0].split(",")][:4]
        for args in (["member", "update"], ["member", "update", member_hex]):
            self.same_server(args)
        # Membership changes one at a time: etcd drops a second change proposed while the first
        # is pending (the caller times out), so these run one after the other, not side by side.
        # Re-recording the member's own peer URL changes nothing, so both tools can run it.
        for args in (["member", "update", member_hex, f"--peer-urls={peer}"],
                     ["member", "update", "1234", "--peer-urls=http://127.0.0.1:1"]):
            want = h.run(h.ETCDCTL, self.a.endpoint, args)
            time.sleep(0.5)  # etcd applies a change a moment after answering it
            got = h.run(CAIRNCTL, self.a.endpoint, args)
            time.sleep(0.5)
            self.assertEqual(tuple(map(self.norm_text, want[:2])) + (want[2],),
                             tuple(map(self.norm_text, got[:2])) + (got[2],), f"args: {args}")

    def test_defrag_and_move_leader(self):
        self.same_server(["defrag"])
        self.same_server(["defrag", "--cluster"])
        self.same_server(["move-leader", "1234"])

    def test_endpoint_environment_and_failover(self):
        dead = f"127.0.0.1:{h.free_port()}"
        fast = ["--dial-timeout", "500ms", "--command-timeout", "1s"]
        self.norm.add(dead, "<DEAD>")
        # Environment instead of --endpoints.
        env = {"ETCDCTL_ENDPOINTS": self.a.endpoint}
        want = h.run(h.ETCDCTL, None, ["get", "foo"], env=env)
        got = h.run(CAIRNCTL, None, ["get", "foo"], env=env)
        self.assertEqual(want, got)
        # CAIRNCTL_ENDPOINTS wins over ETCDCTL_ENDPOINTS for cairnctl.
        got = h.run(CAIRNCTL, None, fast + ["get", "foo"],
                    env={"CAIRNCTL_ENDPOINTS": self.a.endpoint, "ETCDCTL_ENDPOINTS": dead})
        self.assertEqual(want, got)
        # An explicit flag wins over both.
        got = h.run(CAIRNCTL, self.a.endpoint, ["get", "foo"], env={"CAIRNCTL_ENDPOINTS": dead})
        self.assertEqual(want, got)
        # One endpoint down: the other answers.
        self.same_server(fast + ["--endpoints", f"{dead},{self.a.endpoint}", "get", "foo"])
        # All down: same output, errors and exit codes.
        for args in (["get", "foo"], ["put", "k", "v"], ["endpoint", "status"], ["-w", "json", "endpoint", "status"],
                     ["endpoint", "hashkv"], ["defrag"], ["endpoint", "health"], ["-w", "table", "endpoint", "health"],
                     ["move-leader", "1"]):
            want, got = self.both((h.ETCDCTL, dead, fast + args), (CAIRNCTL, dead, fast + args))
            self.assertEqual(tuple(map(self.norm_text, want[:2])) + (want[2],),
                             tuple(map(self.norm_text, got[:2])) + (got[2],), f"args: {args}")

    def test_snapshot_save(self):
        with h.TempDir() as d:
            for binary, name in ((h.ETCDCTL, "e.db"), (CAIRNCTL, "c.db")):
                path = os.path.join(d, name)
                out, err, rc = h.run(binary, self.a.endpoint, ["snapshot", "save", path])
                self.skip_if_unimplemented(out, err)
                self.assertEqual((out, rc), (f"Snapshot saved at {path}\n", 0), err)
                self.assertGreater(os.path.getsize(path), 0)
            self.assertEqual(os.path.getsize(os.path.join(d, "e.db")) > 0,
                             os.path.getsize(os.path.join(d, "c.db")) > 0)

    # ------------------------------------------------------------ mutations, mirrored

    def test_put_and_del(self):
        for fmt in ("simple", "json", "fields"):
            p = f"pd-{fmt}/"
            self.mirrored(["-w", fmt, "put", p + "a", "1"])
            self.mirrored(["-w", fmt, "put", p + "a", "2", "--prev-kv"])
            self.mirrored(["-w", fmt, "put", p + "b"], stdin=b"from stdin\n")
            self.mirrored(["-w", fmt, "put", p + "a", "--ignore-value", "--prev-kv"])
            self.mirrored(["-w", fmt, "put", p + "c", "--", "-dash"])
            self.mirrored(["-w", fmt, "put", p + "zz", "--ignore-value"])
            self.mirrored(["-w", fmt, "del", p + "a", "--prev-kv"])
            self.mirrored(["-w", fmt, "del", p, "--prefix", "--prev-kv"])
            self.mirrored(["-w", fmt, "del", p + "nothing"])
            self.mirrored(["-w", fmt, "put", p + "r1", "x"])
            self.mirrored(["-w", fmt, "put", p + "r2", "y"])
            self.mirrored(["-w", fmt, "del", p + "r1", p + "r3"])
            self.mirrored(["-w", fmt, "put", p + "f", "y"])
            self.mirrored(["-w", fmt, "del", "--from-key", p + "f"])

    def test_txn(self):
        cases = [
            'value("foo") = "bar2"\n\nput t/a 1\nget foo\ndel t/nothing\n\n',
            'value("foo") = "nope"\n\nput t/a 1\n\nput t/b 2\nget t/ --prefix\n\n',
            'mod("foo") > "0"\nver("foo") = "2"\ncreate("foo") < "100"\nvalue("foo") != "x"\n\n'
            'get "foo"\nput t/c "spaced value"\n\nget foo1\n\n',
            'version("t/a") = "1"\n\nput t/a 2 --prev-kv\ndel t/ --prefix --prev-kv\n\n\n',
            '\n\n\n',
            'bogus\n\n\n',
            'value("foo") = "bar2"\n\nfrob x\n\n\n',
            'value("foo") = "bar2"\n\nput\n\n\n',
            'value("foo") = "bar2"\n\nput t/x 1\n',
            'value("foo") = "bar2"\n\nput t/d 1\nput t/d 2\n\n\n',
        ]
        for fmt in ("simple", "json", "fields"):
            for stdin in cases:
                self.mirrored(["-w", fmt, "txn"], stdin=stdin.encode())
        self.mirrored(["txn", "-i"], stdin=cases[0].encode())
        self.mirrored(["txn", "--interactive"], stdin=cases[1].encode())

    def test_compaction(self):
        self.mirrored(["put", "cmp/a", "1"])
        self.mirrored(["put", "cmp/a", "2"])
        self.mirrored(["compaction", "3"])
        self.mirrored(["compaction", "--physical", "4"])
        self.mirrored(["compaction", "2"])
        self.mirrored(["get", "foo", "--rev", "2"])
        self.mirrored(["compaction", "99999"])

    def test_lease(self):
        self.grant("one", ["lease", "grant", "600"])
        self.mirrored(["put", "lk/a", "1", "--lease", "{L:one}"])
        # (one key only: etcd lists a lease's keys in map order)
        for fmt in ("simple", "json", "fields"):
            self.mirrored(["-w", fmt, "lease", "timetolive", "{L:one}", "--keys"])
            self.mirrored(["-w", fmt, "lease", "timetolive", "{L:one}"])
            self.mirrored(["-w", fmt, "lease", "keep-alive", "--once", "{L:one}"])
            self.mirrored(["-w", fmt, "lease", "timetolive", "1234"])
            self.mirrored(["-w", fmt, "lease", "keep-alive", "--once", "1234"])
            self.mirrored(["-w", fmt, "lease", "revoke", "1234"])
        for fmt in ("json", "fields"):
            self.grant(fmt, ["-w", fmt, "lease", "grant", "100"])
            self.mirrored(["-w", fmt, "lease", "revoke", "{L:%s}" % fmt])
        self.mirrored(["lease", "revoke", "{L:one}"])
        self.mirrored(["get", "lk/", "--prefix"])
        self.mirrored(["lease", "timetolive", "{L:one}"])

    def grant(self, name, args):
        want = h.run(h.ETCDCTL, self.a.endpoint, args)
        got = h.run(CAIRNCTL, self.b.endpoint, args)
        self.skip_if_unimplemented(want[0], want[1])
        self.assertEqual((want[2], got[2]), (0, 0), (want, got))
        self.remember_lease(name, want[0], got[0])
        self.assertEqual(self.norm(want[0]), self.norm(got[0]))

    def remember_lease(self, name, etcdctl_out, cairnctl_out):
        def lease_of(text):
            m = re.search(r"lease ([0-9a-f]{16}) granted", text)
            if m:
                return int(m.group(1), 16)
            m = re.search(r'"ID"\s*:\s*(\d+)', text)
            return int(m.group(1))
        for server, text in (("a", etcdctl_out), ("b", cairnctl_out)):
            lease = lease_of(text)
            self.leases[(name, server)] = format(lease, "x")
            self.norm.add_id(lease, "LEASE_" + name)

    def test_user_role_auth(self):
        steps = [
            ["role", "add", "r1"], ["role", "add", "r1"], ["role", "add", "r2"],
            ["role", "grant-permission", "r1", "read", "foo"],
            ["role", "grant-permission", "r1", "readwrite", "p/", "--prefix"],
            ["role", "grant-permission", "r1", "write", "a", "b"],
            ["role", "grant-permission", "r1", "READ", "z", "--from-key"],
            ["role", "grant-permission", "r2", "read", "", "--prefix"],
            ["role", "grant-permission", "r1", "admin", "x"],
            ["role", "grant-permission", "r1", "read", "x", "y", "--prefix"],
            ["role", "grant-permission", "r1"],
            ["user", "add", "u1:pw"], ["user", "add", "u1:pw"], ["user", "add", ":pw"],
            ["user", "add", "u2", "--new-user-password", "secret"],
            ["user", "add", "u3", "--no-password"],
            ["user", "grant-role", "u1", "r1"], ["user", "grant-role", "u1", "r2"],
            ["user", "grant-role", "u1", "nope"], ["user", "grant-role", "u1"],
            ["user", "get", "u1", "--detail"], ["user", "get", "nobody"],
        ]
        for args in steps:
            self.mirrored(args)
        self.mirrored(["user", "add", "u4", "--interactive=false"], stdin=b"pw4\n")
        self.mirrored(["user", "passwd", "u4", "--interactive=false"], stdin=b"pw5\n")
        for fmt in ("simple", "json", "fields", "table"):
            for args in (["role", "get", "r1"], ["role", "get", "r2"], ["role", "list"],
                         ["user", "get", "u1"], ["user", "list"], ["role", "get", "nope"]):
                self.mirrored(["-w", fmt] + args)
        for args in (["role", "revoke-permission", "r1", "foo"],
                     ["role", "revoke-permission", "r1", "p/", "--prefix"],
                     ["role", "revoke-permission", "r1", "a", "b"],
                     ["role", "revoke-permission", "r1", "z", "--from-key"],
                     ["role", "revoke-permission", "r1", "nothing"],
                     ["user", "revoke-role", "u1", "r2"], ["user", "revoke-role", "u1", "r2"],
                     ["-w", "json", "user", "revoke-role", "u1", "r1"]):
            self.mirrored(args)
        try:
            self.mirrored(["user", "add", "root:rootpw"])
            self.mirrored(["auth", "enable"])
            self.mirrored(["get", "foo"])
            self.mirrored(["--user", "root:rootpw", "get", "foo"])
            self.mirrored(["--user", "root", "--password", "rootpw", "get", "foo"])
            self.mirrored(["--user", "u4:pw5", "get", "foo"])
            self.mirrored(["--user", "u4:wrong", "get", "foo"])
            self.mirrored(["--user", "root:rootpw", "auth", "disable"])
        finally:
            for srv in (self.a, self.b):
                h.run(h.ETCDCTL, srv.endpoint, ["--user", "root:rootpw", "auth", "disable"])
        for args in (["user", "delete", "u1"], ["user", "delete", "u1"], ["role", "delete", "r2"],
                     ["-w", "json", "role", "delete", "r1"], ["user", "list"], ["role", "list"]):
            self.mirrored(args)

    def test_auth_enforcement(self):
        """A limited user's view with auth on: what it may do, and etcd's error for the rest."""
        setup = [["user", "add", "root:rootpw"], ["role", "add", "root"],
                 ["user", "grant-role", "root", "root"], ["user", "add", "eve:evepw"],
                 ["role", "add", "eves"], ["role", "grant-permission", "eves", "readwrite", "e/", "--prefix"],
                 ["role", "grant-permission", "eves", "read", "foo"], ["user", "grant-role", "eve", "eves"]]
        for args in setup:
            self.mirrored(args)
        eve = ["--user", "eve:evepw"]
        root = ["--user", "root:rootpw"]
        try:
            self.mirrored(["auth", "enable"])
            for args in (eve + ["put", "e/1", "v"], eve + ["get", "e/", "--prefix"], eve + ["get", "foo"],
                         eve + ["put", "foo", "x"], eve + ["get", "", "--prefix"], eve + ["del", "foo"],
                         eve + ["-w", "json", "get", "e/1"], eve + ["user", "get", "eve"],
                         eve + ["role", "get", "eves"], eve + ["user", "list"], eve + ["role", "list"],
                         eve + ["user", "get", "root"], eve + ["role", "add", "x"], eve + ["auth", "disable"],
                         eve + ["defrag"], eve + ["endpoint", "hashkv"], ["get", "foo"], ["user", "list"],
                         ["--user", "eve:bad", "get", "e/1"], ["--user", "ghost:pw", "get", "e/1"],
                         root + ["user", "delete", "root"], root + ["role", "delete", "root"],
                         root + ["user", "revoke-role", "root", "root"], root + ["-w", "json", "user", "list"],
                         root + ["role", "get", "eves"]):
                self.mirrored(args)
            self.mirrored(eve + ["txn", "--interactive=false"], stdin=b'value("e/1") = "v"\n\nput e/2 y\n\nput foo n\n\n')
            self.mirrored(eve + ["txn", "--interactive=false"], stdin=b'\nput foo n\n\n\n')
            self.mirrored(root + ["auth", "disable"])
        finally:
            for srv in (self.a, self.b):
                h.run(h.ETCDCTL, srv.endpoint, ["--user", "root:rootpw", "auth", "disable"])
        for args in (["user", "delete", "eve"], ["role", "delete", "eves"], ["user", "delete", "root"],
                     ["role", "delete", "root"]):
            self.mirrored(args)

    def test_lease_list(self):
        # Every lease of the server, so only the count and format are comparable.
        for fmt in ("simple", "json", "fields"):
            want = h.run(h.ETCDCTL, self.a.endpoint, ["-w", fmt, "lease", "list"])
            got = h.run(CAIRNCTL, self.a.endpoint, ["-w", fmt, "lease", "list"])
            self.skip_if_unimplemented(want[0], want[1])
            self.assertEqual(want, got)

    def test_watch(self):
        want, _ = self.mirrored(["-w", "json", "put", "w/a", "1"])
        start = str(self.revision_of(want[0]))
        self.mirrored(["put", "w/b", "2"])
        self.mirrored(["del", "w/a"])
        for fmt in ("simple", "json", "fields"):
            for extra in ([], ["--prev-kv"]):
                outs = []
                for binary, srv in ((h.ETCDCTL, self.a), (CAIRNCTL, self.b)):
                    proc = subprocess.Popen([binary, "--endpoints", srv.endpoint, "-w", fmt, "watch",
                                             "--rev", start, "w/", "--prefix"] + extra,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=h.etcdctl_env())
                    time.sleep(1.5)
                    proc.terminate()
                    out, err = proc.communicate(timeout=10)
                    outs.append((self.norm(out.decode()), h._ZAP_LINE.sub("", err.decode())))
                self.skip_if_unimplemented(*outs[0])
                self.assertTrue(outs[0][0], "etcdctl printed no events")
                self.assertEqual(outs[0][0], outs[1][0], f"watch -w {fmt} {extra}")
        # A watch from a compacted revision is cancelled by the server: exit 5.
        self.mirrored(["compaction", "--physical", start])
        self.mirrored(["watch", "--rev", str(int(start) - 1), "w/", "--prefix"])
        self.mirrored(["watch"])
        self.mirrored(["watch", "a", "b", "--prefix"])

    def test_watch_exec(self):
        want, _ = self.mirrored(["-w", "json", "put", "wx/a", "1"])
        start = str(self.revision_of(want[0]))
        outs, errs = [], []
        for binary, srv in ((h.ETCDCTL, self.a), (CAIRNCTL, self.b)):
            proc = subprocess.Popen([binary, "--endpoints", srv.endpoint, "watch", "--rev", start, "wx/a",
                                     "--", "sh", "-c", "echo $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=h.etcdctl_env())
            time.sleep(1.5)
            proc.terminate()
            out, err = proc.communicate(timeout=10)
            outs.append(out.decode())
            errs.append(err.decode())
        self.skip_if_unimplemented(outs[0], errs[0])
        self.assertIn('"PUT" "wx/a" "1"', outs[0])
        self.assertEqual(outs[0], outs[1])


if __name__ == "__main__":
    h.main()
