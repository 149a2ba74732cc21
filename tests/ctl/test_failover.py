#!/usr/bin/python3
"""Long-running cairnctl commands survive the loss of the member they talk to: with three
members, `service register` keeps its instance alive and `service watch` keeps reporting
after that member is killed with SIGKILL (SERVER_KIND=etcd|cairnd; skipped when the
server cannot form a three-member cluster or has no leases)."""
import json
import signal
import subprocess
import time
import unittest

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
KIND, BINARY = h.server_binary()
TTL = 5


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.tmp = h.TempDir()
        root = self.tmp.__enter__()
        try:
            self.members = h.start_cluster(KIND, BINARY, root)
        except RuntimeError as e:
            self.tmp.__exit__(None, None, None)
            self.skipTest(f"{KIND} could not form a 3-member cluster: {e}")
        self.endpoints = ",".join(m.endpoint for m in self.members)
        self.procs = []
        out, _, _ = h.run(h.ETCDCTL, self.members[0].endpoint, ["member", "list"])
        if len(out.splitlines()) != 3:
            self.tearDown()
            self.skipTest(f"{KIND} did not form a 3-member cluster")

    def tearDown(self):
        h.reap(self.procs)
        for m in self.members:
            m.stop()
        self.members = []
        self.tmp.__exit__(None, None, None)

    def spawn(self, *args):
        p = subprocess.Popen([CAIRNCTL, "--debug", "--endpoints", self.endpoints] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=h.etcdctl_env())
        self.procs.append(p)
        return p

    def chosen_endpoint(self, proc):
        line = proc.stderr.readline().decode()
        if not line.startswith("cairnctl: using endpoint "):
            rest = proc.stderr.read().decode()
            if "Unimplemented" in line + rest:
                self.skipTest(f"{KIND} lacks a needed service: {(line + rest).strip()[:160]}")
            self.fail(f"unexpected stderr: {line}{rest}")
        return line.split()[-1]

    def listed(self, via):
        out, err, rc = h.run(CAIRNCTL, via, ["-w", "json", "service", "list", "web"])
        self.assertEqual(rc, 0, err)
        return [i["id"] for i in json.loads(out)]

    def test_register_and_watch_survive_member_loss(self):
        reg = self.spawn("service", "register", "web", "1", "10.0.0.1:80", "--ttl", str(TTL))
        reg_ep = self.chosen_endpoint(reg)
        first = reg.stdout.readline().decode()
        if not first:
            err = reg.stderr.read().decode()
            if "Unimplemented" in err:
                self.skipTest(f"{KIND} has no leases yet: {err.strip()[:160]}")
            self.fail(f"register failed: {err}")
        self.assertTrue(first.startswith("registered /services/web/1"), first)
        # Watch through the same member so that one kill hits both.
        watch = subprocess.Popen([CAIRNCTL, "--debug", "--endpoints",
                                  ",".join([reg_ep] + [m.endpoint for m in self.members if m.endpoint != reg_ep]),
                                  "service", "watch", "web"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=h.etcdctl_env())
        self.procs.append(watch)
        self.assertEqual(self.chosen_endpoint(watch), reg_ep)
        self.assertEqual(watch.stdout.readline().decode(), "PRESENT web/1 10.0.0.1:80\n")

        victim = next(m for m in self.members if m.endpoint == reg_ep)
        victim.kill()
        survivor = next(m for m in self.members if m is not victim).endpoint

        # Two TTLs later the instance is still there: keep-alives moved to another member.
        time.sleep(2 * TTL)
        self.assertIsNone(reg.poll(), reg.stderr.read().decode() if reg.poll() is not None else "")
        self.assertEqual(self.listed(survivor), ["1"])

        # The watch moved too: it reports a new instance and the first one leaving.
        out, err, rc = h.run(CAIRNCTL, survivor, ["put", "/services/web/2",
                                                  '{"name":"web","id":"2","address":"10.0.0.2:80"}'])
        self.assertEqual(rc, 0, err)
        reg.send_signal(signal.SIGINT)
        self.assertEqual(reg.wait(timeout=15), 0, reg.stderr.read().decode())
        self.assertEqual(watch.stdout.readline().decode(), "JOINED web/2 10.0.0.2:80\n")
        self.assertEqual(watch.stdout.readline().decode(), "LEFT web/1 10.0.0.1:80\n")


if __name__ == "__main__":
    h.main()
