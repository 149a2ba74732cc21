#!/usr/bin/python3
"""cairnctl's `make-mirror` next to etcdctl 3.4's: both mirror the same source (SERVER_KIND) at
the same time, each to a destination of its own, and the two destinations must end up holding
the same keys and values, which are the ones etcdctl's mapping rules give (keys present before
the start, puts and deletes made while it runs, --prefix / --dest-prefix / --no-dest-prefix).
Both are stopped by SIGINT and must die of it; their stdout must match. Also the argument errors,
the running count cairnctl prints (with the test-only shortened interval), mirroring between a
cairnd and a real etcd in both directions, and `migrate`'s refusal."""
import json
import os
import signal
import subprocess
import time
import base64

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
TOOLS = {"cairnctl": CAIRNCTL, "etcdctl": h.ETCDCTL}
WAIT_S = 15


def dump(endpoint, prefix=None):
    """{key: value} of everything (or everything under `prefix`) on a server, read with etcdctl."""
    args = ["get", prefix, "--prefix"] if prefix else ["get", "", "--from-key"]
    out, err, rc = h.run(h.ETCDCTL, endpoint, args + ["-w", "json"])
    assert rc == 0, err
    kvs = json.loads(out).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode() for kv in kvs}


def mod_revision(endpoint, key):
    out, err, rc = h.run(h.ETCDCTL, endpoint, ["get", key, "-w", "json"])
    assert rc == 0, err
    return json.loads(out)["kvs"][0]["mod_revision"]


def ctl(endpoint, *args):
    out, err, rc = h.run(h.ETCDCTL, endpoint, list(args))
    assert rc == 0, (args, err)
    return out


class MirrorTest(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir()
        root = cls.tmp.__enter__()
        kind, binary = h.server_binary()
        cls.kind = kind
        cls.source = h.Server(kind, binary, root, "src", name="src")
        cls.dests = {tool: h.Server(kind, binary, root, f"dst-{tool}", name=f"dst{tool}") for tool in TOOLS}
        cls.servers = [cls.source] + list(cls.dests.values())
        for s in cls.servers:
            s.start(wait=False)
        for s in cls.servers:
            s.wait_ready()
        cls.procs = []

    @classmethod
    def tearDownClass(cls):
        h.reap(cls.procs)
        for s in cls.servers:
            s.stop()
        cls.tmp.__exit__(None, None, None)

    def spawn(self, binary, source, dest, *flags, env=None):
        p = subprocess.Popen([binary, "--endpoints", source.endpoint, "make-mirror", *flags, dest.endpoint],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=h.etcdctl_env(env))
        self.procs.append(p)
        return p

    def wait_for(self, endpoint, prefix, expected):
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            got = dump(endpoint, prefix)
            if got == expected:
                return got
            time.sleep(0.1)
        return dump(endpoint, prefix)

    def interrupt(self, p):
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        return p.returncode, out.decode(), err.decode()

    def mirror_both(self, flags, ns, before, during, expected_base, expected_final, dest_ns):
        """Writes `before` under the source namespace `ns`, runs both tools with `flags`, applies
        `during` (a list of etcdctl argument lists), and checks each destination under `dest_ns`."""
        for k, v in before.items():
            ctl(self.source.endpoint, "put", k, v)
        procs = {tool: self.spawn(binary, self.source, self.dests[tool], *flags) for tool, binary in TOOLS.items()}
        for tool, p in procs.items():
            got = self.wait_for(self.dests[tool].endpoint, dest_ns, expected_base)
            self.assertEqual(got, expected_base, f"{tool}: base state not mirrored")
        for args in during:
            if args[0] == "txn":
                out, err, rc = h.run(h.ETCDCTL, self.source.endpoint, ["txn"], stdin=args[1].encode())
                self.assertEqual(rc, 0, err)
            else:
                ctl(self.source.endpoint, *args)
        for tool, p in procs.items():
            got = self.wait_for(self.dests[tool].endpoint, dest_ns, expected_final)
            self.assertEqual(got, expected_final, f"{tool}: updates not mirrored")
        results = {tool: self.interrupt(p) for tool, p in procs.items()}
        for tool, (rc, out, err) in results.items():
            self.assertEqual(rc, -signal.SIGINT, f"{tool} did not die of SIGINT: {err}")
        self.assertEqual(results["cairnctl"][1], results["etcdctl"][1], "stdout differs from etcdctl's")
        return results

    def test_whole_keyspace(self):
        ns = "/whole/"
        before = {ns + "a": "1", ns + "b": "2"}
        during = [["put", ns + "c", "3"], ["put", ns + "a", "1b"], ["del", ns + "b"],
                  ["txn", f'\nput {ns}t1 x\nput {ns}t2 y\ndel {ns}c\n\n\n']]
        final = {ns + "a": "1b", ns + "t1": "x", ns + "t2": "y"}
        self.mirror_both([], ns, before, during, before, final, ns)
        # The source txn's operations arrive as one txn: one destination revision for both puts.
        for tool in TOOLS:
            revs = {k: mod_revision(self.dests[tool].endpoint, ns + k) for k in ("t1", "t2")}
            self.assertEqual(revs["t1"], revs["t2"], f"{tool} split one source revision into several")
        # Everything else the source held came along too, identically for both tools.
        self.assertEqual(dump(self.dests["cairnctl"].endpoint), dump(self.dests["etcdctl"].endpoint))

    def test_prefix_keeps_its_name(self):
        ns = "/pfx/"
        before = {ns + "k1": "v1", "/other/k": "no"}
        during = [["put", ns + "k2", "v2"], ["put", "/other/k2", "no"], ["del", ns + "k1"]]
        self.mirror_both(["--prefix", ns], ns, before, during, {ns + "k1": "v1"}, {ns + "k2": "v2"}, ns)
        for tool in TOOLS:
            self.assertEqual(dump(self.dests[tool].endpoint, "/other/"), {}, f"{tool} copied outside --prefix")

    def test_dest_prefix_renames(self):
        ns, to = "/dp/", "/renamed/"
        before = {ns + "x": "1", ns + "y/dp/z": "2"}
        during = [["put", ns + "w", "3"], ["del", ns + "x"]]
        self.mirror_both(["--prefix", ns, "--dest-prefix", to], ns, before, during,
                         {to + "x": "1", to + "y/dp/z": "2"}, {to + "y/dp/z": "2", to + "w": "3"}, to)

    def test_no_dest_prefix_strips(self):
        ns = "/nd/"
        before = {ns + "nd-a": "1"}
        during = [["put", ns + "nd-b", "2"]]
        self.mirror_both(["--prefix", ns, "--no-dest-prefix"], ns, before, during,
                         {"nd-a": "1"}, {"nd-a": "1", "nd-b": "2"}, "nd-")

    def test_running_count(self):
        # etcdctl prints the count every 30 s; cairnctl's test-only variable shortens that, and
        # the count must follow etcdctl's rule: base keys plus every put and delete event.
        ns = "/count/"
        for i in range(3):
            ctl(self.source.endpoint, "put", f"{ns}{i}", "v")
        p = self.spawn(CAIRNCTL, self.source, self.dests["cairnctl"], "--prefix", ns,
                       env={"CAIRNCTL_MAKE_MIRROR_PRINT_SECONDS": "1"})
        self.assertEqual(self.wait_for(self.dests["cairnctl"].endpoint, ns, {f"{ns}{i}": "v" for i in range(3)}),
                         {f"{ns}{i}": "v" for i in range(3)})
        ctl(self.source.endpoint, "put", ns + "3", "v")
        ctl(self.source.endpoint, "del", ns + "0")
        self.wait_for(self.dests["cairnctl"].endpoint, ns, {f"{ns}{i}": "v" for i in (1, 2, 3)})
        time.sleep(2.5)
        rc, out, err = self.interrupt(p)
        self.assertEqual(rc, -signal.SIGINT, err)
        lines = out.split("\n")
        self.assertEqual(lines[-1], "", out)
        counts = [int(line) for line in lines[:-1]]
        self.assertTrue(counts, "no count printed")
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(counts[-1], 5, out)

    def test_argument_errors_match_etcdctl(self):
        cases = [
            [],
            [self.dests["cairnctl"].endpoint, "extra"],
            ["--dest-prefix", "/a", "--no-dest-prefix", self.dests["cairnctl"].endpoint],
        ]
        for args in cases:
            with self.subTest(args=args):
                got = {}
                for tool, binary in TOOLS.items():
                    out, err, rc = h.run(binary, self.source.endpoint, ["make-mirror"] + args, timeout=20)
                    got[tool] = (out, err.strip(), rc)
                self.assertEqual(got["cairnctl"], got["etcdctl"])
                self.assertEqual(got["cairnctl"][2], 128)

    def test_migrate_is_refused(self):
        out, err, rc = h.run(CAIRNCTL, self.source.endpoint, ["migrate", "--data-dir", "/nonexistent"])
        self.assertEqual(rc, 1)
        self.assertIn("Cairn has no v2 store", err)
        self.assertTrue(err.startswith("Error: "), err)


class CrossKindMirrorTest(h.unittest.TestCase):
    """cairnd -> etcd 3.4 and etcd 3.4 -> cairnd with cairnctl (only when SERVER_KIND=cairnd)."""

    def test_both_directions(self):
        kind, binary = h.server_binary()
        if kind != "cairnd":
            self.skipTest("needs cairnd")
        with h.TempDir() as root:
            cairnd = h.Server("cairnd", binary, root, "c", name="c")
            etcd = h.Server("etcd", h.ETCD, root, "e", name="e")
            try:
                cairnd.start(wait=False)
                etcd.start(wait=False)
                cairnd.wait_ready()
                etcd.wait_ready()
                for src, dst, ns in ((cairnd, etcd, "/c2e/"), (etcd, cairnd, "/e2c/")):
                    with self.subTest(source=src.kind):
                        ctl(src.endpoint, "put", ns + "before", "1")
                        p = subprocess.Popen([CAIRNCTL, "--endpoints", src.endpoint, "make-mirror", "--prefix", ns,
                                              dst.endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             env=h.etcdctl_env())
                        try:
                            deadline = time.time() + WAIT_S
                            while time.time() < deadline and dump(dst.endpoint, ns) != {ns + "before": "1"}:
                                time.sleep(0.1)
                            ctl(src.endpoint, "put", ns + "after", "2")
                            ctl(src.endpoint, "del", ns + "before")
                            want = {ns + "after": "2"}
                            while time.time() < deadline and dump(dst.endpoint, ns) != want:
                                time.sleep(0.1)
                            self.assertEqual(dump(dst.endpoint, ns), want)
                        finally:
                            p.send_signal(signal.SIGINT)
                            p.communicate(timeout=10)
                        self.assertEqual(p.returncode, -signal.SIGINT)
            finally:
                cairnd.stop()
                etcd.stop()


if __name__ == "__main__":
    h.main()
