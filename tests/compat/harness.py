"""Shared machinery for Cairn's compatibility tests.

Starts a reference etcd 3.4 and the server under test ("subject", normally
cairnd) on free 127.0.0.1 ports with fresh temp data dirs, drives real
clients against them (Debian's etcdctl 3.4, python3-etcd3, raw gRPC through
python3-etcd3's generated stubs) and normalises outputs so that the two
servers' answers can be compared byte for byte.

Which binary is the subject:
  * env CAIRND=<path>          -> that cairnd binary
  * env CAIRND=etcd            -> /usr/bin/etcd on both sides (self-test of
                                  the harness; every comparison must pass)
  * unset                      -> /work/main/build/bin/cairnd if it exists
If the subject binary is missing, tests that need it exit 77 (ctest SKIP).

Everything here is stdlib + python3-etcd3 (Debian), run with /usr/bin/python3.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
import etcd3

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from loopback_ports import free_port  # noqa: E402,F401  (re-exported to the tests)
from grpc_calls import grpc_error, kv_answers  # noqa: E402,F401  (grpc_error: re-exported)
from server_process import (ServerProcess, StartError, loopback_url,  # noqa: E402
                            member_command)

ETCD_BIN = os.environ.get("ETCD", "/usr/bin/etcd")
ETCDCTL_BIN = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
DEFAULT_CAIRND = "/work/main/build/bin/cairnd"
SKIP_EXIT_CODE = 77

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
ETCDCTL_TIMEOUT_S = 20.0


def _quiet_closed_watch_threads(args):
    # python3-etcd3's watch thread loops forever and dies noisily with
    # "Channel closed" once the client is closed; that is the client's quirk.
    if (args.thread is not None and args.thread.name.startswith("etcd3_watch")
            and isinstance(args.exc_value, ValueError)):
        return
    _default_thread_excepthook(args)


_default_thread_excepthook = threading.excepthook
threading.excepthook = _quiet_closed_watch_threads


# ----------------------------------------------------------------------------
# Binaries


def subject_binary():
    """Returns (kind, path) of the server under test; kind is 'cairnd' or 'etcd'."""
    env = os.environ.get("CAIRND", "")
    if env in ("etcd", ETCD_BIN):
        return "etcd", ETCD_BIN
    path = env or DEFAULT_CAIRND
    return "cairnd", path


def subject_available():
    _, path = subject_binary()
    return os.path.isfile(path) and os.access(path, os.X_OK)


def main_or_skip(require_subject=True):
    """unittest.main() wrapper: exits 77 (ctest SKIP) when cairnd is missing."""
    if require_subject and not subject_available():
        kind, path = subject_binary()
        print(f"SKIP: server under test not found at {path} "
              f"(set CAIRND=<path to cairnd>, or CAIRND=etcd to self-test the harness)")
        sys.exit(SKIP_EXIT_CODE)
    kind, path = subject_binary()
    print(f"subject: {kind} {path}; reference: {ETCD_BIN}", file=sys.stderr)
    unittest.main(verbosity=2)


# ----------------------------------------------------------------------------
# Ports and servers


ServerError = StartError   # a server exited during start-up or did not serve in time


class Server(ServerProcess):
    """One etcd-compatible server process on 127.0.0.1.

    kind: 'etcd' or 'cairnd' (both take etcd's flag names).
    data_dir: reused across start()/stop() so restarts see the same data.
    The log (beside data_dir) gets a '=== start <command>' line before each start.
    """

    STOP_TIMEOUT_S = STOP_TIMEOUT_S
    LOG_COMMAND = True

    def __init__(self, kind, binary, data_dir, name="node", extra_flags=(),
                 client_port=None, peer_port=None):
        self.kind = kind
        self.binary = binary
        self.data_dir = data_dir
        self.extra_flags = list(extra_flags)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        super().__init__(name, os.path.join(os.path.dirname(data_dir.rstrip("/")) or ".",
                                            f"{name}-{kind}-{self.client_port}.log"))

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    def command(self):
        return member_command(self.binary, self.name, self.data_dir,
                              loopback_url(self.client_port), loopback_url(self.peer_port),
                              extra_flags=self.extra_flags)

    def start(self, timeout=START_TIMEOUT_S):
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Waits until a Range request succeeds (server up and has a leader)."""
        return self.wait_until_serving(
            lambda: kv_answers(self.endpoint, b"\0readiness-probe", timeout=1.0),
            timeout, interval=0.1, retry_on=(grpc.RpcError,))

    def kill9(self):
        """kill -9; returns the exit code."""
        return self.kill()

    def client(self, timeout=10):
        host, port = self.endpoint.split(":")
        return etcd3.client(host=host, port=int(port), timeout=timeout)

    def channel(self):
        return grpc.insecure_channel(self.endpoint)


class TempDirs:
    """Owns one temp dir tree; removed on cleanup()."""

    def __init__(self, prefix="cairn-compat-"):
        self.root = tempfile.mkdtemp(prefix=prefix)

    def path(self, *parts):
        p = os.path.join(self.root, *parts)
        return p

    def cleanup(self):
        if os.environ.get("COMPAT_KEEP"):
            print(f"kept {self.root}", file=sys.stderr)
            return
        shutil.rmtree(self.root, ignore_errors=True)


# Both sides of a comparison use the same member name, so that outputs naming
# the member (member list) can be compared; data dirs stay apart.
PAIR_MEMBER_NAME = "compat"


def make_reference(tmp, name="ref", extra_flags=(), member_name=None):
    return Server("etcd", ETCD_BIN, tmp.path(f"{name}.data"), name=member_name or name,
                  extra_flags=extra_flags)


def make_subject(tmp, name="subj", extra_flags=(), member_name=None):
    kind, path = subject_binary()
    return Server(kind, path, tmp.path(f"{name}.data"), name=member_name or name,
                  extra_flags=extra_flags)


def fail_if_any(test, problems, message):
    """Fails `test` with `message` (which lists the problems) if there are any."""
    if problems:
        test.fail(message)


class ServerPairTest(unittest.TestCase):
    """Base: every test gets a fresh reference etcd and a fresh subject.

    Subclasses set SERVER_FLAGS to pass extra flags to both servers.
    """

    SERVER_FLAGS = ()

    def setUp(self):
        self.tmp = TempDirs()
        self.addCleanup(self.tmp.cleanup)
        self.ref = make_reference(self.tmp, extra_flags=self.SERVER_FLAGS,
                                  member_name=PAIR_MEMBER_NAME)
        self.subj = make_subject(self.tmp, extra_flags=self.SERVER_FLAGS,
                                 member_name=PAIR_MEMBER_NAME)
        self.addCleanup(self.ref.kill)
        self.addCleanup(self.subj.kill)
        self.ref.start()
        self.subj.start()

    def servers(self):
        return (self.ref, self.subj)

    def compare(self, steps):
        """Runs the etcdctl script on both servers; fails listing every difference."""
        ref_results = run_script(self.ref, steps)
        subj_results = run_script(self.subj, steps)
        diffs = compare_scripts(steps, ref_results, subj_results)
        if diffs:
            self.fail(f"{len(diffs)} of {len(steps)} etcdctl steps differ "
                      f"(etcd vs {self.subj.kind}):\n" + "\n".join(diffs))
        return ref_results, subj_results

    def assertSubjectAlive(self):
        self.assertTrue(self.subj.running(),
                        f"server under test died:\n{self.subj.log_tail()}")
        self.subj.wait_ready(5)


# ----------------------------------------------------------------------------
# etcdctl


def shorten(text, limit=400):
    """Keeps failure messages readable when a test sends a huge value."""
    if isinstance(text, (bytes, str)) and len(text) > limit:
        return text[:limit // 2] + f"...<{len(text)} chars>..." + text[-limit // 4:]
    return text


class CtlResult:
    def __init__(self, args, rc, stdout, stderr):
        self.args = args
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return (f"etcdctl {shorten(' '.join(self.args))}\n  exit {self.rc}\n"
                f"  stdout: {shorten(self.stdout)!r}\n  stderr: {shorten(self.stderr)!r}")


def etcdctl(server, *args, stdin=None, timeout=ETCDCTL_TIMEOUT_S):
    env = dict(os.environ, ETCDCTL_API="3")
    cmd = [ETCDCTL_BIN, "--endpoints", server.endpoint, "--dial-timeout", "3s",
           "--command-timeout", "8s"] + list(args)
    try:
        p = subprocess.run(cmd, input=(stdin or "").encode(), capture_output=True,
                           timeout=timeout, env=env)
        return CtlResult(list(args), p.returncode, p.stdout.decode(errors="replace"),
                         p.stderr.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        return CtlResult(list(args), "timeout", "", "")


def etcdctl_stream(server, *args, lines, timeout=10):
    """Runs a streaming etcdctl command (watch) until it printed `lines` lines
    or `timeout` passed, then stops it. Returns a CtlResult with what it printed
    (rc is "stopped" when we had to stop it, else its exit code)."""
    env = dict(os.environ, ETCDCTL_API="3")
    cmd = [ETCDCTL_BIN, "--endpoints", server.endpoint, "--dial-timeout", "3s"] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         stdin=subprocess.DEVNULL)
    out = []
    reader = threading.Thread(target=lambda: out.extend(iter(p.stdout.readline, b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(out) < lines and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)   # grace: catch output beyond what was expected
    rc = p.poll()
    if rc is None:
        p.terminate()
        rc = "stopped"
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    reader.join(2)
    return CtlResult(list(args), rc, b"".join(out).decode(errors="replace"),
                     err.decode(errors="replace"))


# Header fields that legitimately differ between two servers: identities and
# the raft term. Revisions are NOT normalised: Cairn numbers them like etcd.
HEADER_IDENTITY_FIELDS = ("cluster_id", "member_id", "raft_term")
# Member ids in `member list -w json`.
MEMBER_ID_FIELDS = ("ID",)


def _normalise_json_obj(obj):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in HEADER_IDENTITY_FIELDS or k in MEMBER_ID_FIELDS:
                out[k] = "<id>"
            else:
                out[k] = _normalise_json_obj(v)
        return out
    if isinstance(obj, list):
        return [_normalise_json_obj(v) for v in obj]
    if isinstance(obj, str):
        return _ENDPOINT_RE.sub("127.0.0.1:<port>", obj)
    return obj


# Log line fields printed by clientv3's retry interceptor that vary per run.
_VOLATILE_LOG_FIELDS = ("ts", "target", "caller")
_ENDPOINT_RE = re.compile(r"127\.0\.0\.1:\d+")
# `member list` prints the member id as 16 hex digits at the start of a line.
_MEMBER_ID_HEX_RE = re.compile(r"^[0-9a-f]{1,16},")
# `-w fields` prints header identities as '"ClusterID" : 123'.
# `alarm list` prints 'memberID:123 alarm:NOSPACE'.
_ALARM_MEMBER_RE = re.compile(r"memberID:\d+")
_FIELDS_IDENTITY_RE = re.compile(r'"(ClusterID|MemberID|RaftTerm)" : \d+')


def normalise_text(text):
    """Normalises etcdctl stdout/stderr: JSON (whole or per line) has header
    identities masked; log lines lose timestamps; endpoints lose their port."""
    stripped = text.strip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return json.dumps(_normalise_json_obj(json.loads(stripped)), sort_keys=True)
        except ValueError:
            pass
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                obj = json.loads(s)
                for f in _VOLATILE_LOG_FIELDS:
                    obj.pop(f, None)
                line = json.dumps(_normalise_json_obj(obj), sort_keys=True)
            except ValueError:
                pass
        line = _FIELDS_IDENTITY_RE.sub(r'"\1" : <id>', line)
        line = _ALARM_MEMBER_RE.sub("memberID:<id>", line)
        line = _MEMBER_ID_HEX_RE.sub("<id>,", line)
        line = _ENDPOINT_RE.sub("127.0.0.1:<port>", line)
        lines.append(line)
    return "\n".join(lines)


def normalise_result(r):
    return (r.rc, normalise_text(r.stdout), normalise_text(r.stderr))


class Step:
    """One etcdctl invocation in a comparison script."""

    def __init__(self, *args, stdin=None, compare_stderr=True):
        self.args = args
        self.stdin = stdin
        self.compare_stderr = compare_stderr


def run_script(server, steps):
    return [etcdctl(server, *s.args, stdin=s.stdin) for s in steps]


def compare_scripts(steps, ref_results, subj_results):
    """Returns a list of human-readable differences (empty when equal)."""
    diffs = []
    for step, r, s in zip(steps, ref_results, subj_results):
        nr, ns = normalise_result(r), normalise_result(s)
        if not step.compare_stderr:
            nr, ns = nr[:2], ns[:2]
        if nr != ns:
            stdin = f" <<< {shorten(step.stdin)!r}" if step.stdin else ""
            diffs.append(f"etcdctl {shorten(' '.join(step.args))}{stdin}\n"
                         f"   etcd:    exit={r.rc} stdout={shorten(r.stdout)!r} "
                         f"stderr={shorten(r.stderr)!r}\n"
                         f"   subject: exit={s.rc} stdout={shorten(s.stdout)!r} "
                         f"stderr={shorten(s.stderr)!r}")
    return diffs
