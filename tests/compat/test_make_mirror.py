#!/usr/bin/python3
"""Moving between etcd and Cairn with `etcdctl make-mirror`: etcdctl copies every key of the
source (a linearizable range at one revision, paged), then follows the source's watch from that
revision, and writes to the destination with puts and deletes. Both directions run here, real
etcd 3.4 and cairnd: keys written before and during the mirror arrive, deletes follow, and the
values are byte for byte the same. (README "Moving from etcd".)"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WAIT_S = 15.0


def keys_of(server, prefix):
    c = server.client()
    try:
        return {m.key.decode(): v for v, m in c.get_prefix(prefix)}
    finally:
        c.close()


class MakeMirrorTest(harness.ServerPairTest):

    def mirror(self, source, dest):
        c = source.client()
        self.addCleanup(c.close)
        for i in range(250):  # more than one page of etcdctl's sync
            c.put(f"/app/before/{i:04d}", f"v{i}" * 20)
        c.put("/app/gone", "x")
        c.put("/other/not-mirrored", "x")
        env = dict(os.environ, ETCDCTL_API="3")
        proc = subprocess.Popen([harness.ETCDCTL_BIN, "--endpoints", source.endpoint, "make-mirror",
                                 "--prefix", "/app/", dest.endpoint],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(proc.kill)
        self.wait_for(lambda: len(keys_of(dest, "/app/before/")) == 250, dest, "the initial copy")
        c.put("/app/during", b"\x00\xffbinary")
        c.delete("/app/gone")
        self.wait_for(lambda: "/app/during" in keys_of(dest, "/app/") and
                      "/app/gone" not in keys_of(dest, "/app/"), dest, "the changes made while mirroring")
        proc.terminate()
        proc.wait(10)
        self.assertEqual(keys_of(dest, "/app/"), keys_of(source, "/app/"))
        self.assertEqual(keys_of(dest, "/other/"), {})

    def wait_for(self, predicate, dest, what):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        self.fail(f"{what} did not reach {dest.kind}")

    def test_etcd_to_cairn(self):
        self.mirror(self.ref, self.subj)

    def test_cairn_to_etcd(self):
        self.mirror(self.subj, self.ref)


if __name__ == "__main__":
    harness.main_or_skip()
