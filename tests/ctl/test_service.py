#!/usr/bin/python3
"""cairnctl's service verbs against a real server (SERVER_KIND=etcd|cairnd):
register / list / watch / deregister, and the scenario that matters most: a registered
process killed with SIGKILL disappears within its TTL and `service watch` reports it
leaving."""
import json
import signal
import time

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
KIND, _ = h.server_binary()
TTL = 2


class ServiceTest(h.OneServerTest):
    def ctl(self, *args):
        return h.run(CAIRNCTL, self.server.endpoint, list(args))

    def spawn(self, *args):
        return self.spawn_tool(CAIRNCTL, *args)

    def register(self, name, inst, address, *extra):
        p = self.spawn("service", "register", name, inst, address, "--ttl", str(TTL), *extra)
        line = p.stdout.readline().decode()
        if not line:
            err = p.stderr.read().decode()
            if "Unimplemented" in err or "unknown service" in err:
                self.skipTest(f"{KIND} has no leases yet: {err.strip()}")
            self.fail(f"register failed: {err}")
        self.assertTrue(line.startswith(f"registered /services/{name}/{inst} with lease "), line)
        return p

    def listed(self, name):
        out, err, rc = self.ctl("-w", "json", "service", "list", name)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def wait_until(self, predicate, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    def test_sigkill_instance_disappears_within_ttl_and_watch_sees_it_leave(self):
        watcher = self.spawn("service", "watch", "web")
        time.sleep(0.5)
        reg = self.register("web", "1", "10.0.0.1:8080", "--meta", "zone=a", "--meta", "tier=front")
        instances = self.listed("web")
        self.assertEqual([(i["name"], i["id"], i["address"], i["meta"]) for i in instances],
                         [("web", "1", "10.0.0.1:8080", {"tier": "front", "zone": "a"})])
        table, _, rc = self.ctl("service", "list", "web")
        self.assertEqual(rc, 0)
        self.assertIn("|  web |  1 | 10.0.0.1:8080 | tier=front,zone=a |", table)

        killed_at = time.time()
        reg.send_signal(signal.SIGKILL)
        reg.wait()
        # Gone within the TTL (plus the server's expiry check and a little scheduling slack).
        self.assertTrue(self.wait_until(lambda: self.listed("web") == [], TTL + 3),
                        "instance still listed after its TTL")
        self.assertLess(time.time() - killed_at, TTL + 3)
        watcher.send_signal(signal.SIGTERM)
        out, _ = watcher.communicate(timeout=10)
        lines = out.decode().splitlines()
        self.assertIn("JOINED web/1 10.0.0.1:8080 tier=front,zone=a", lines)
        self.assertIn("LEFT web/1 10.0.0.1:8080 tier=front,zone=a", lines)
        self.assertLess(lines.index("JOINED web/1 10.0.0.1:8080 tier=front,zone=a"),
                        lines.index("LEFT web/1 10.0.0.1:8080 tier=front,zone=a"))

    def test_interrupt_revokes_at_once(self):
        reg = self.register("api", "a1", "10.0.0.9:9000")
        self.assertEqual(len(self.listed("api")), 1)
        reg.send_signal(signal.SIGINT)
        out, err = reg.communicate(timeout=10)
        self.assertEqual(reg.returncode, 0, err)
        self.assertIn("deregistered /services/api/a1", out.decode())
        self.assertEqual(self.listed("api"), [])

    def test_deregister_removes_and_stops_registrar(self):
        reg = self.register("db", "x", "10.0.0.7:5432")
        out, err, rc = self.ctl("service", "deregister", "db", "x")
        self.assertEqual((out, rc), ("deregistered /services/db/x\n", 0), err)
        self.assertEqual(self.listed("db"), [])
        _, err = reg.communicate(timeout=TTL + 5)
        self.assertEqual(reg.returncode, 1)
        self.assertIn("expired or revoked", err.decode())
        out, err, rc = self.ctl("service", "deregister", "db", "x")
        self.assertEqual((err, rc), ("Error: service instance db/x not found\n", 1))

    def test_watch_reports_present_instances_first(self):
        self.register("cache", "c1", "10.0.0.3:6379")
        w = self.spawn("service", "watch", "cache")
        first = w.stdout.readline().decode()
        self.assertEqual(first, "PRESENT cache/c1 10.0.0.3:6379\n")
        w.kill()
        w.wait()

    def test_bad_arguments(self):
        for args, msg in ((["service", "register", "web"], "service register needs <name> <id> <address>"),
                          (["service", "register", "a/b", "1", "x"], "service name must be non-empty"),
                          (["service", "register", "web", "1", "x", "--meta", "novalue"], "bad --meta"),
                          (["service", "deregister", "web"], "service deregister needs <name> <id>")):
            out, err, rc = self.ctl(*args)
            self.assertEqual(rc, 128, err)
            self.assertIn(msg, err)


if __name__ == "__main__":
    h.main()
