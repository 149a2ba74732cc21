#!/usr/bin/python3
"""Start-up errors: the server must exit non-zero, promptly, with a message
that names what is wrong (the path or the address), instead of hanging or
half-starting."""

import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXIT_WITHIN_S = 15


class StartupErrors(harness.unittest.TestCase):

    def setUp(self):
        self.tmp = harness.TempDirs()
        self.addCleanup(self.tmp.cleanup)

    def server(self, data_dir, **kw):
        kind, binary = harness.subject_binary()
        s = harness.Server(kind, binary, data_dir, name="startup", **kw)
        s.log_path = self.tmp.path(f"startup-{s.client_port}.log")
        self.addCleanup(s.kill)
        return s

    def run_to_exit(self, server, command=None, preexec=None):
        """Runs the server expecting it to fail; returns (rc, output)."""
        cmd = command or server.command()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=EXIT_WITHIN_S,
                               stdin=subprocess.DEVNULL, preexec_fn=preexec)
        except subprocess.TimeoutExpired:
            p = None    # subprocess.run has killed it
        if p is None:
            self.fail(f"still running {EXIT_WITHIN_S}s after a start-up error: {' '.join(cmd)}")
        out = (p.stdout + p.stderr).decode(errors="replace")
        return p.returncode, out

    def assertFailsMentioning(self, rc, out, *needles):
        self.assertNotEqual(rc, 0, f"exit code 0; output:\n{out[-2000:]}")
        self.assertGreater(rc, 0, f"killed by signal {-rc} instead of exiting; output:\n{out[-2000:]}")
        for needle in needles:
            self.assertIn(needle, out, f"message does not mention {needle!r}; output:\n{out[-2000:]}")

    def test_data_dir_is_a_regular_file(self):
        path = self.tmp.path("a-file")
        with open(path, "w") as f:
            f.write("not a directory\n")
        rc, out = self.run_to_exit(self.server(path))
        self.assertFailsMentioning(rc, out, path)
        with open(path) as f:
            self.assertEqual(f.read(), "not a directory\n", "the file was modified")

    def test_data_dir_under_a_regular_file(self):
        parent = self.tmp.path("a-file")
        open(parent, "w").close()
        path = os.path.join(parent, "data")
        rc, out = self.run_to_exit(self.server(path))
        self.assertFailsMentioning(rc, out, parent)

    def test_data_dir_not_writable(self):
        # Root can write anywhere, so drop to 'nobody' for this run when root.
        parent = self.tmp.path("readonly")
        os.makedirs(parent)
        os.chmod(self.tmp.root, 0o755)
        os.chmod(parent, 0o555)
        path = os.path.join(parent, "data")
        server = self.server(path)
        command = server.command()
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                self.skipTest("running as root without setpriv")
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + command
            if not self._nobody_can_execute(command[4:]):
                self.skipTest(f"'nobody' cannot execute {server.binary}")
        rc, out = self.run_to_exit(server, command)
        self.assertFailsMentioning(rc, out, parent)

    def _nobody_can_execute(self, command):
        probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                "test", "-x", command[0]], capture_output=True, timeout=10)
        return probe.returncode == 0

    def _busy_port_case(self, which):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        self.addCleanup(holder.close)
        port = holder.getsockname()[1]
        kw = {"client_port": port} if which == "client" else {"peer_port": port}
        server = self.server(self.tmp.path("data"), **kw)
        rc, out = self.run_to_exit(server)
        self.assertFailsMentioning(rc, out, f"127.0.0.1:{port}")

    def test_client_port_in_use(self):
        self._busy_port_case("client")

    def test_peer_port_in_use(self):
        self._busy_port_case("peer")

    def test_unknown_flag(self):
        server = self.server(self.tmp.path("data"))
        rc, out = self.run_to_exit(server, server.command() + ["--no-such-flag=1"])
        self.assertFailsMentioning(rc, out, "no-such-flag")

    def test_bad_client_url(self):
        server = self.server(self.tmp.path("data"))
        cmd = server.command()
        cmd[cmd.index("--listen-client-urls") + 1] = "not a url"
        rc, out = self.run_to_exit(server, cmd)
        self.assertFailsMentioning(rc, out)

    def test_starts_after_a_failed_start(self):
        """A failed start leaves nothing behind that blocks the next one."""
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        server = self.server(self.tmp.path("data"), client_port=port)
        rc, out = self.run_to_exit(server)
        self.assertFailsMentioning(rc, out)
        holder.close()
        server.start()
        c = server.client()
        try:
            self.assertEqual(c.put("k", "v").header.revision, 2)
        finally:
            c.close()
        server.stop(signal.SIGTERM)


if __name__ == "__main__":
    harness.main_or_skip()
