#!/usr/bin/python3
"""Backups against a real server (SERVER_KIND=etcd|cairnd): `etcdctl snapshot save` and
`cairnctl snapshot save` from a running cairnd, the file's SHA-256 trailer, `cairnctl snapshot
status`, and `cairnctl snapshot restore` into a new data dir that a new cairnd then serves with
the same keys, values and revisions. Against etcd only one thing is checked: cairnctl refuses to
restore etcd's own (bbolt) snapshot, with a message saying so."""
import base64
import hashlib
import json
import os
import threading
import unittest

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
KIND, BINARY = h.server_binary()
DIGEST = 32


def split_trailer(data):
    return data[:-DIGEST], data[-DIGEST:]


def kvs(endpoint, *args):
    out, err, rc = h.run(h.ETCDCTL, endpoint, ["get", "-w", "json"] + list(args))
    if rc != 0:
        raise AssertionError(err)
    doc = json.loads(out)
    return doc["header"]["revision"], doc.get("kvs", [])


class SnapshotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir()
        cls.root = cls.tmp.__enter__()
        cls.server = h.Server(KIND, BINARY, cls.root, "origin", name="origin").start()
        cls.started = [cls.server]

    @classmethod
    def tearDownClass(cls):
        for s in cls.started:
            s.stop()
        cls.tmp.__exit__(None, None, None)

    def etcdctl(self, *args, endpoint=None):
        return h.run(h.ETCDCTL, endpoint or self.server.endpoint, list(args))

    def cairnctl(self, *args, endpoint=None):
        return h.run(CAIRNCTL, endpoint, list(args))

    def save(self, tool, name):
        path = os.path.join(self.root, name)
        out, err, rc = h.run(tool, self.server.endpoint, ["snapshot", "save", path])
        self.assertEqual(rc, 0, err)
        self.assertIn(f"Snapshot saved at {path}", out)
        return path

    def restore_and_start(self, path, name, *extra):
        """Restores `path` with cairnctl for a new one-member cluster and starts cairnd on it."""
        server = h.Server(KIND, BINARY, self.root, name, name=name)
        out, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", server.data_dir,
                                     "--name", name, "--initial-cluster", f"{name}={server.peer_url}",
                                     "--initial-advertise-peer-urls", server.peer_url,
                                     "--initial-cluster-token", "restored", *extra)
        self.assertEqual(rc, 0, err)
        self.started.append(server)
        server.start()
        return server

    def require_cairnd(self):
        if KIND != "cairnd":
            self.skipTest("restoring is cairnd's; against etcd only the refusal is checked")

    def test_saved_files_carry_their_sha256_and_restore_to_the_same_keys(self):
        self.require_cairnd()
        for k, v in (("a", "1"), ("b", "2"), ("a", "3"), ("gone", "x"), ("c", "4")):
            self.assertEqual(self.etcdctl("put", k, v)[2], 0)
        self.assertEqual(self.etcdctl("del", "gone")[2], 0)
        before_rev, before = kvs(self.server.endpoint, "", "--from-key")

        files = [self.save(h.ETCDCTL, "by-etcdctl.db"), self.save(CAIRNCTL, "by-cairnctl.db")]
        for path in files:
            with open(path, "rb") as f:
                body, trailer = split_trailer(f.read())
            self.assertEqual(len(body) % 512, 0, path)
            self.assertEqual(hashlib.sha256(body).digest(), trailer, path)

        # status: the revision saved, the live keys, and the hash `endpoint hashkv` gives.
        out, err, rc = self.cairnctl("snapshot", "status", files[0], "-w", "json")
        self.assertEqual(rc, 0, err)
        status = json.loads(out)
        self.assertEqual(status["revision"], before_rev)
        self.assertEqual(status["totalKey"], len(before))
        self.assertEqual(status["totalSize"], os.path.getsize(files[0]) - DIGEST)
        out, _, _ = self.etcdctl("endpoint", "hashkv", "-w", "json")
        self.assertEqual(status["hash"], json.loads(out)[0]["HashKV"]["hash"])
        out, err, rc = self.cairnctl("snapshot", "status", files[0], "-w", "table")
        self.assertEqual(rc, 0, err)
        self.assertIn("TOTAL KEYS", out)

        old_cluster, _ = h.ids_of(self.server.endpoint)
        for i, path in enumerate(files):
            restored = self.restore_and_start(path, f"restored{i}")
            rev, after = kvs(restored.endpoint, "", "--from-key")
            self.assertEqual(rev, before_rev)
            self.assertEqual(after, before)  # keys, values, create/mod revisions, versions
            self.assertEqual(kvs(restored.endpoint, "gone")[1], [])
            out, err, rc = self.etcdctl("member", "list", "-w", "json", endpoint=restored.endpoint)
            self.assertEqual(rc, 0, err)
            members = json.loads(out)["members"]
            self.assertEqual([m["name"] for m in members], [f"restored{i}"])
            self.assertEqual(members[0]["peerURLs"], [restored.peer_url])
            self.assertNotEqual(h.ids_of(restored.endpoint)[0], old_cluster)
            self.assertEqual(self.etcdctl("put", "after", "1", endpoint=restored.endpoint)[2], 0)
            self.assertEqual(kvs(restored.endpoint, "after")[0], before_rev + 1)
            restored.stop()

    def test_restore_refuses_a_corrupt_or_truncated_file_and_a_used_data_dir(self):
        self.require_cairnd()
        self.assertEqual(self.etcdctl("put", "r", "1")[2], 0)
        path = self.save(h.ETCDCTL, "good.db")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        corrupt = os.path.join(self.root, "corrupt.db")
        data[len(data) // 3] ^= 0xFF
        with open(corrupt, "wb") as f:
            f.write(data)
        target = os.path.join(self.root, "never")
        _, err, rc = self.cairnctl("snapshot", "restore", corrupt, "--data-dir", target)
        self.assertNotEqual(rc, 0)
        self.assertIn("sha256", err)
        self.assertFalse(os.path.exists(target))

        truncated = os.path.join(self.root, "truncated.db")
        with open(truncated, "wb") as f:
            f.write(bytes(data[:-DIGEST]))
        _, err, rc = self.cairnctl("snapshot", "restore", truncated, "--data-dir", target)
        self.assertNotEqual(rc, 0)
        self.assertIn("--skip-hash-check", err)
        self.assertFalse(os.path.exists(target))

        used = os.path.join(self.root, "used")
        os.makedirs(used)
        open(os.path.join(used, "something"), "w").close()
        _, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", used)
        self.assertNotEqual(rc, 0)
        self.assertIn("not empty", err)

    def test_restore_with_wal_dir_puts_the_log_there_and_cairnd_serves_it(self):
        self.require_cairnd()
        for k, v in (("waldir/a", "1"), ("waldir/b", "2")):
            self.assertEqual(self.etcdctl("put", k, v)[2], 0)
        _, before = kvs(self.server.endpoint, "waldir/", "--prefix")
        path = self.save(CAIRNCTL, "for-wal-dir.db")

        name = "restored-waldir"
        server = h.Server(KIND, BINARY, self.root, name, name=name)
        wal = os.path.join(self.root, "log-disk", "wal")
        out, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", server.data_dir, "--wal-dir", wal,
                                     "--name", name, "--initial-cluster", f"{name}={server.peer_url}",
                                     "--initial-advertise-peer-urls", server.peer_url,
                                     "--initial-cluster-token", "restored")
        self.assertEqual(rc, 0, err)
        self.assertIn(f"--wal-dir {wal}", out)
        self.assertTrue([n for n in os.listdir(wal) if n.endswith(".wal")], os.listdir(wal))
        self.assertFalse(os.path.exists(os.path.join(server.data_dir, "member", "wal")))

        # A --wal-dir that already holds something is refused before anything is created.
        other = os.path.join(self.root, "never-waldir")
        _, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", other, "--wal-dir", wal)
        self.assertNotEqual(rc, 0)
        self.assertIn(f"wal-dir {wal} exists and is not empty", err)
        self.assertFalse(os.path.exists(other))

        server.extra = ["--wal-dir", wal]
        self.started.append(server)
        server.start()
        self.assertEqual(kvs(server.endpoint, "waldir/", "--prefix")[1], before)
        self.assertEqual(self.etcdctl("put", "waldir/after", "1", endpoint=server.endpoint)[2], 0)
        server.stop()

    def test_snapshot_taken_during_writes_restores_a_consistent_revision(self):
        self.require_cairnd()
        base, _ = kvs(self.server.endpoint, "w/")
        stop = threading.Event()
        written = []

        def writer():
            # One key per revision, in order: a consistent image at revision R holds exactly the
            # first R - base of them.
            i = 0
            while not stop.is_set() and i < 2000:
                if self.etcdctl("put", f"w/{i:06d}", "v")[2] != 0:
                    break
                written.append(i)
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            while len(written) < 10 and t.is_alive():
                stop.wait(0.05)
            path = self.save(h.ETCDCTL, "during.db")
            during = len(written)
        finally:
            stop.set()
            t.join()
        restored = self.restore_and_start(path, "during")
        rev, got = kvs(restored.endpoint, "w/", "--prefix")
        self.assertGreaterEqual(rev - base, 10)
        self.assertLessEqual(rev - base, during + 1)
        keys = [base64.b64decode(kv["key"]).decode() for kv in got]
        self.assertEqual(keys, [f"w/{i:06d}" for i in range(rev - base)])
        restored.stop()

    def test_three_members_restored_from_one_file_form_a_cluster(self):
        self.require_cairnd()
        self.assertEqual(self.etcdctl("put", "shared", "yes")[2], 0)
        before_rev, before = kvs(self.server.endpoint, "", "--from-key")
        path = self.save(CAIRNCTL, "for-three.db")
        members = [h.Server(KIND, BINARY, self.root, f"three{i}", name=f"three{i}") for i in range(3)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
        for m in members:
            _, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", m.data_dir, "--name", m.name,
                                       "--initial-cluster", initial, "--initial-advertise-peer-urls", m.peer_url)
            self.assertEqual(rc, 0, err)
        self.started.extend(members)
        for m in members:
            m.start(initial_cluster=initial, wait=False)
        for m in members:
            m.wait_ready()
        rev, after = kvs(members[1].endpoint, "", "--from-key")
        self.assertEqual((rev, after), (before_rev, before))
        self.assertEqual(self.etcdctl("put", "after", "3", endpoint=members[2].endpoint)[2], 0)
        self.assertEqual(kvs(members[0].endpoint, "after")[0], before_rev + 1)
        out, err, rc = self.etcdctl("member", "list", "-w", "json", endpoint=members[0].endpoint)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(m["name"] for m in json.loads(out)["members"]), [m.name for m in members])
        for m in members:
            m.stop()

    def test_etcd_snapshot_is_refused_with_a_clear_message(self):
        if KIND != "etcd":
            self.skipTest("needs etcd's own snapshot")
        path = self.save(h.ETCDCTL, "etcd.db")
        target = os.path.join(self.root, "from-etcd")
        _, err, rc = self.cairnctl("snapshot", "restore", path, "--data-dir", target)
        self.assertNotEqual(rc, 0)
        self.assertIn("etcd (bbolt) snapshot", err)
        self.assertFalse(os.path.exists(target))


if __name__ == "__main__":
    h.main()
