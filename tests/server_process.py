"""One server process (cairnd or etcd 3.4) for the python test harnesses.

Owns what every harness needs from a server it starts: the command line (member_command: cairnd
and etcd take the same flag names), the spawn with stdout and stderr appended to a log file, a
bounded wait until the server serves (the harness brings its own probe: a gRPC Range, an etcdctl
get, an HTTP /health), stop (a signal, a bounded wait, then SIGKILL), kill -9, the log's tail for
failure messages, and the kill at interpreter exit of every server still running.

Each harness subclasses ServerProcess, defines command() and its own wait_ready() on top of
wait_until_serving(), and keeps its own public API; ports come from loopback_ports.free_port().

Every server leads its own process group (start_new_session), so a terminal's Ctrl-C reaches the
test, not the servers; the clean-up at exit (kill_all) kills each group that is still running.
Importing this module changes nothing in the process: the exit hook is installed by the first
spawn. Not thread-safe: a test starts and stops its servers from one thread.
"""

import atexit
import os
import signal
import subprocess
import time

ETCD_BIN = "/usr/bin/etcd"


def loopback_url(port, scheme="http"):
    return f"{scheme}://127.0.0.1:{port}"


def member_command(binary, name, data_dir, client_url, peer_url, initial_cluster=None,
                   extra_flags=()):
    """The command line of one member listening on client_url and peer_url (each also
    advertised). initial_cluster defaults to this member alone; extra_flags come last, so a
    repeated flag there overrides the one above."""
    return [binary, "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial_cluster or f"{name}={peer_url}"] + list(extra_flags)


class StartError(RuntimeError):
    """A server exited during start-up or did not serve in time; the message ends with the tail
    of its log."""


# ----------------------------------------------------------------------------
# Clean-up at exit

_tracked = []            # Popen objects that may still run when the interpreter exits
_exit_hook_installed = False


def track(proc):
    """Has kill_all() (run at interpreter exit) kill `proc` if it still runs then. The harnesses
    hand their long-running clients (etcdctl watch) here too."""
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(kill_all)
        _exit_hook_installed = True
    _tracked[:] = [p for p in _tracked if p.poll() is None]
    _tracked.append(proc)


def kill_all():
    """SIGKILLs every tracked process still running (its whole process group when it leads one)
    and reaps it."""
    for proc in list(_tracked):
        _kill_and_reap(proc, whole_group=True)
    _tracked.clear()


def bound_run_time(seconds):
    """After `seconds`, kills every tracked process and ends this one with exit code 3: a hung
    server or client must not hang ctest, nor outlive the test."""
    def give_up(*_):
        kill_all()
        os._exit(3)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(int(seconds))


def _kill_and_reap(proc, whole_group=False):
    if proc.poll() is not None:
        return
    try:
        # An unreaped child keeps its pid, so the group it leads is still ours to kill.
        if whole_group and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


# ----------------------------------------------------------------------------
# One server

class ServerProcess:
    """One server process; a harness subclasses it and defines command().

    name: the member's name (also used in messages); log_path: where the output goes, appended
    across restarts. Class attributes a harness may override: STOP_TIMEOUT_S (how long stop()
    waits after its signal before SIGKILL), LOG_TAIL_LINES (log_tail()'s default) and
    LOG_COMMAND (write '=== start <command line>' into the log before each start).
    """

    STOP_TIMEOUT_S = 15
    LOG_TAIL_LINES = 40
    LOG_COMMAND = False

    def __init__(self, name, log_path):
        self.name = name
        self.log_path = log_path
        self.proc = None

    def command(self):
        raise NotImplementedError

    def spawn(self):
        """Starts the process without waiting for it to serve; returns self."""
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.proc.pid})")
        command = self.command()
        with open(self.log_path, "ab") as log:
            if self.LOG_COMMAND:
                log.write(f"\n=== start {' '.join(command)}\n".encode())
                log.flush()
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        track(self.proc)
        return self

    def wait_until_serving(self, probe, timeout, interval, retry_on=()):
        """Calls probe() every `interval` seconds until it returns true (returns self then).
        An exception in retry_on counts as "not yet"; any other propagates. Raises StartError
        when the process exits first or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self._label()} exited with {self.proc.returncode} during "
                                 f"start-up (log {self.log_path}):\n{self.log_tail()}")
            try:
                if probe():
                    return self
                last = "probe answered no"
            except retry_on as e:
                last = e
            time.sleep(interval)
        raise StartError(f"{self._label()} not serving after {timeout}s (last probe: {last}; "
                         f"log {self.log_path}):\n{self.log_tail()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Sends `sig` and waits up to `timeout` (default STOP_TIMEOUT_S), then SIGKILLs.
        Returns the exit code (negative: the signal that ended it), or None when it had to be
        killed or was never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=self.STOP_TIMEOUT_S if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            _kill_and_reap(self.proc)
            return None

    def kill(self):
        """kill -9 and reap; returns the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        _kill_and_reap(self.proc)
        return self.proc.returncode

    def log_tail(self, n=None):
        """The last n lines (default LOG_TAIL_LINES) of the log, or "(no log)"."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-(n or self.LOG_TAIL_LINES):])

    def _label(self):
        binary = os.path.basename(self.proc.args[0]) if self.proc is not None else "server"
        return f"{binary} {self.name}"
