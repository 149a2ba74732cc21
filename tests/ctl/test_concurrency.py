#!/usr/bin/python3
"""cairnctl's `lock` and `elect` against a real server (SERVER_KIND=etcd|cairnd), side by side
with etcdctl 3.4: the same output, the same errors and exit codes, and locks and elections that
exclude each other across the two tools (cairnctl uses the server's Lock/Election services,
etcdctl its client-side recipe; both must agree on the keys)."""
import os
import re
import signal
import time

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
TOOLS = {"cairnctl": CAIRNCTL, "etcdctl": h.ETCDCTL}


class ConcurrencyTest(h.OneServerTest):
    def spawn(self, tool, *args):
        return self.spawn_tool(TOOLS[tool], *args)

    def run_tool(self, tool, *args):
        out, err, rc = h.run(TOOLS[tool], self.server.endpoint, list(args))
        return out, err.strip(), rc

    def first_line(self, p, timeout=10):
        """The first line `p` prints, or None if it prints nothing within `timeout`."""
        os.set_blocking(p.stdout.fileno(), False)
        deadline = time.time() + timeout
        buf = b""
        while time.time() < deadline:
            chunk = p.stdout.read()
            if chunk:
                buf += chunk
                if b"\n" in buf:
                    return buf.split(b"\n")[0].decode()
            if p.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def interrupt(self, p, sig=signal.SIGINT):
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
        return p.returncode, out.decode(), err.decode()

    def test_holder_prints_its_key_and_excludes_the_other_tool(self):
        for holder, waiter in (("cairnctl", "etcdctl"), ("etcdctl", "cairnctl")):
            with self.subTest(holder=holder):
                name = f"lk-{holder}"
                held = self.spawn(holder, "lock", name)
                key = self.first_line(held)
                self.assertIsNotNone(key, f"{holder} did not take a free lock")
                self.assertRegex(key, rf"^{name}/[0-9a-f]+$")
                waiting = self.spawn(waiter, "lock", name, "--", "sh", "-c", "echo got $ETCD_LOCK_KEY")
                self.assertIsNone(self.first_line(waiting, timeout=1.5),
                                  f"{waiter} took the lock {holder} holds")
                rc, _, err = self.interrupt(held)
                self.assertEqual(rc, 0, err)
                out, err = waiting.communicate(timeout=10)
                self.assertEqual(waiting.returncode, 0, err)
                self.assertRegex(out.decode(), rf"^got {name}/[0-9a-f]+\n$")

    def test_lock_output_and_command_errors_match_etcdctl(self):
        results = {}
        for tool in TOOLS:
            held = self.spawn(tool, "lock", f"same-{tool}")
            line = self.first_line(held)
            rc, out, err = self.interrupt(held)
            shown = re.sub(r"/[0-9a-f]+", "/<lease>", (line or "") + "\n" + out).replace(f"same-{tool}", "same")
            failed = self.run_tool(tool, "lock", f"fail-{tool}", "--", "sh", "-c", "exit 3")
            env = self.run_tool(tool, "lock", f"env-{tool}", "--", "sh", "-c", 'echo "$ETCD_LOCK_REV" | grep -c "^[0-9][0-9]*$"')
            results[tool] = (shown, rc, failed, env[0], env[2])
        self.assertEqual(results["cairnctl"], results["etcdctl"])
        self.assertEqual(results["cairnctl"][2], ("", "Error: exit status 3", 1))

    def test_killed_holder_releases_the_lock_within_its_ttl(self):
        held = self.spawn("cairnctl", "lock", "--ttl", "2", "crash")
        self.assertIsNotNone(self.first_line(held))
        held.kill()
        held.communicate()
        start = time.time()
        out, err, rc = self.run_tool("etcdctl", "lock", "crash", "echo", "taken")
        self.assertEqual((out, rc), ("taken\n", 0), err)
        self.assertLess(time.time() - start, 10, "the dead holder's lock outlived its TTL by far")

    def test_election_leaders_follow_each_other_and_observers_see_them(self):
        observers = {tool: self.spawn(tool, "elect", "-l", "el") for tool in TOOLS}
        first = self.spawn("cairnctl", "elect", "el", "alice")
        self.assertRegex(self.first_line(first) or "", r"^el/[0-9a-f]+$")
        second = self.spawn("etcdctl", "elect", "el", "bob")
        self.assertIsNone(self.first_line(second, timeout=1.5), "two leaders at once")
        rc, _, err = self.interrupt(first, signal.SIGTERM)
        self.assertEqual(rc, 0, err)
        self.assertRegex(self.first_line(second) or "", r"^el/[0-9a-f]+$")
        time.sleep(0.5)
        rc, _, err = self.interrupt(second)
        self.assertEqual(rc, 0, err)
        time.sleep(0.5)
        seen = {}
        for tool, p in observers.items():
            rc, out, err = self.interrupt(p)
            self.assertEqual(rc, 0, f"{tool}: {err}")
            values = [line for line in out.split("\n") if line and not line.startswith("el/")]
            seen[tool] = values
        self.assertEqual(seen["cairnctl"], ["alice", "bob"])
        self.assertEqual(seen["cairnctl"], seen["etcdctl"])

    def test_bad_arguments_match_etcdctl(self):
        for args in (["lock"], ["elect"], ["elect", "x"], ["elect", "-l", "x", "y"]):
            with self.subTest(args=args):
                cairn = self.run_tool("cairnctl", *args)
                etcd = self.run_tool("etcdctl", *args)
                self.assertEqual(cairn, etcd)


if __name__ == "__main__":
    h.main()
