#!/usr/bin/python3
"""cairnd --wal-dir: the raft log in a directory of its own (etcd's tuning guide puts it on its own
disk).

What a user relies on:
  - with --wal-dir, acknowledged puts survive kill -9 (they are in the log there) and the data dir
    holds no log of its own (nothing under member/wal);
  - a restart that forgets --wal-dir is refused (exit 1, a message naming --wal-dir and the data
    dir) instead of starting on an empty log and losing the writes the store had not synced;
  - a second cairnd pointed at the same --wal-dir is refused while the first runs;
  - moving the log while stopped (mv the directory, restart with the new --wal-dir) works.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_harness as h  # noqa: E402
from server_process import member_command  # noqa: E402

KEYS = 50
REFUSAL_TIMEOUT_S = 20


class WalDirServer(h.Server):
    """A cairnd whose command line ends with `extra` flags (changed between starts)."""

    def __init__(self, binary, work_dir, name):
        super().__init__(binary, work_dir, name)
        self.extra = []

    def command(self):
        return member_command(self.binary, self.name, self.data_dir, f"http://{self.endpoint}",
                              h.loopback_url(self.peer_port), extra_flags=self.extra)


class WalDirTest(h.E2eTest):

    def setUp(self):
        super().setUp()
        if h.subject_path() == h.ETCD_BIN:
            self.skipTest("checks cairnd's own start-up refusals")
        # The log's directory stands for another disk: not under the data dir's temp dir.
        self.log_root = tempfile.mkdtemp(prefix="cairn-e2e-waldir-")
        self.addCleanup(shutil.rmtree, self.log_root, True)

    def member(self, name, wal_dir):
        s = WalDirServer(h.subject_path(), self.tmp, name)
        s.extra = ["--wal-dir", wal_dir]
        self.addCleanup(s.kill)
        return s

    def refused(self, server):
        """Starts `server` expecting it to exit at once; returns (exit code, its log's new output)."""
        before = os.path.getsize(server.log_path) if os.path.exists(server.log_path) else 0
        server.spawn()
        try:
            rc = server.proc.wait(timeout=REFUSAL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            self.fail(f"{server.name} started instead of refusing:\n{server.log_tail()}")
        with open(server.log_path, "rb") as f:
            f.seek(before)
            return rc, f.read().decode(errors="replace")

    def keys(self, server, prefix="/w/"):
        c = server.client()
        try:
            return {m.key.decode(): v.decode() for v, m in c.get_prefix(prefix)}
        finally:
            c.close()

    def test_log_in_wal_dir_survives_kill_and_is_required_and_movable(self):
        wal = os.path.join(self.log_root, "wal")
        srv = self.member("member", wal)
        srv.start()
        c = srv.client()
        for i in range(KEYS):
            c.put(f"/w/{i:03}", f"v{i}")
        c.close()
        # Acknowledged, so in the log; the store may not have synced them yet.
        srv.kill()

        srv.start()
        want = {f"/w/{i:03}": f"v{i}" for i in range(KEYS)}
        self.assertEqual(self.keys(srv), want)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "member", "wal")),
                         os.listdir(os.path.join(srv.data_dir, "member")))
        self.assertTrue([n for n in os.listdir(wal) if n.endswith(".wal")], os.listdir(wal))

        # A second cairnd on the same log directory (its own data dir and ports) is refused.
        intruder = self.member("intruder", wal)
        rc, out = self.refused(intruder)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"--wal-dir {wal} is in use by another cairnd", out)

        c = srv.client()
        c.put("/w/last", "before-stop")
        c.close()
        srv.kill()

        # Forgetting --wal-dir: refused, naming the flag and the data dir; nothing changes.
        srv.extra = []
        rc, out = self.refused(srv)
        self.assertEqual(rc, 1, out)
        self.assertIn("--wal-dir", out)
        self.assertIn(f"data dir {srv.data_dir} holds a store", out)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "member", "wal")))

        # Another (empty) --wal-dir: refused too.
        srv.extra = ["--wal-dir", os.path.join(self.log_root, "empty")]
        rc, out = self.refused(srv)
        self.assertEqual(rc, 1, out)
        self.assertIn("holds no log of it", out)

        # Moved while stopped: the new flag finds it, with every acknowledged write.
        moved = os.path.join(self.log_root, "moved-wal")
        os.rename(wal, moved)
        srv.extra = ["--wal-dir", moved]
        srv.start()
        want["/w/last"] = "before-stop"
        self.assertEqual(self.keys(srv), want)
        c = srv.client()
        c.put("/w/after-move", "1")
        c.close()
        srv.stop()

        # And back into the data dir, where no flag is needed.
        os.rename(moved, os.path.join(srv.data_dir, "member", "wal"))
        srv.extra = []
        srv.start()
        want["/w/after-move"] = "1"
        self.assertEqual(self.keys(srv), want)


if __name__ == "__main__":
    h.main()
