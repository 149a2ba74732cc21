#!/usr/bin/python3
"""Crash soak of one cairnd, checked against an exact model of the store.

Four client threads issue a random mix over 24 keys (puts with and without prev_kv, some with a
lease; single-key and range deletes; txns comparing value, version, mod and create revision with
puts, deletes and reads in both branches; reads; lease grants and revokes; now and then a Compact,
physical or not). The server is killed with SIGKILL at a random moment (sometimes right after a
Compact, sometimes during a burst of lease grants; now and then stopped with SIGTERM instead) and
restarted on the same data dir, round after round (sometimes killed again while starting). After each restart crash_checker replays the
acknowledged calls into store_model.StoreModel revision by revision, resolves the calls whose
answer was lost, and compares: the current revision and key space, a few past revisions, the
compaction revision (a Range below it fails with etcd's error), and the leases (kept ones alive
with their TTL and keys, revoked ones gone with their keys).

Environment:
  CAIRND=<path>              the server (CAIRND=etcd runs the soak against /usr/bin/etcd, the
                             self-test of the model); exit 77 (skipped) when it is missing
  CAIRN_SOAK_SECONDS=<n>     how long to run (default 600)
  CAIRN_SOAK_SEED=<n>        replay the choices of a printed seed
  CAIRN_SOAK_KEEP=1          keep the temp dir (data and log)
"""

import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter

import grpc
import etcd3.etcdrpc as rpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from crash_checker import Checker, kvs_of  # noqa: E402
from crash_workload import Shared, Worker  # noqa: E402
from grpc_calls import grpc_error, kv_answers  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from server_process import (ETCD_BIN, ServerProcess, StartError, bound_run_time,  # noqa: E402
                            loopback_url, member_command)

SKIP = 77
PADDING = re.compile(r"\.{40,}")   # the workload pads one value in ten with dots


def shorten(text):
    return PADDING.sub(lambda m: f"<{len(m.group())} dots>", text)

WORKERS = 4
RUN_BEFORE_KILL_S = (0.3, 3.0)
RESTART_TIMEOUT_S = 30
CALL_TIMEOUT_S = 10
SIGTERM_SHARE = 0.15
CRASH_IN_RECOVERY_SHARE = 0.1


class Member(ServerProcess):
    LOG_COMMAND = True

    def __init__(self, binary, root):
        self.binary = binary
        # etcd ends by re-raising SIGTERM; cairnd exits 0.
        self.clean_exits = (0, -signal.SIGTERM) if binary == ETCD_BIN else (0,)
        self.data_dir = os.path.join(root, "data")
        self.client_port = free_port()
        self.peer_port = free_port()
        super().__init__("soak", os.path.join(root, "server.log"))

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    def command(self):
        return member_command(self.binary, self.name, self.data_dir,
                              loopback_url(self.client_port), loopback_url(self.peer_port))

    def start(self):
        self.spawn()
        return self.wait_until_serving(
            lambda: kv_answers(self.endpoint, b"\0readiness-probe", timeout=1.0),
            RESTART_TIMEOUT_S, interval=0.1, retry_on=(grpc.RpcError,))


class ServerReader:
    """The checker's reads of the restarted server (see crash_checker.Checker.check_round)."""

    def __init__(self, channel):
        self.kv = rpc.KVStub(channel)
        self.lease = rpc.LeaseStub(channel)

    def _range_all(self, revision=0):
        return self.kv.Range(rpc.RangeRequest(key=b"\0", range_end=b"\0", revision=revision),
                             timeout=CALL_TIMEOUT_S)

    def current(self):
        answer = self._range_all()
        return answer.header.revision, dict(kvs_of(answer.kvs))

    def range_error(self, revision):
        return grpc_error(lambda: self._range_all(revision))

    def state_at(self, revision):
        """{key: KeyVersion} at `revision`, None when the server refuses the read."""
        try:
            return dict(kvs_of(self._range_all(revision).kvs))
        except grpc.RpcError:
            return None

    def is_compacted(self, revision):
        error = self.range_error(revision)
        return error is not None and "compacted" in error[1]

    def lease_ids(self):
        return set(lease.ID for lease in self.lease.LeaseLeases(
            rpc.LeaseLeasesRequest(), timeout=CALL_TIMEOUT_S).leases)

    def lease_info(self, lease_id):
        """(remaining TTL, granted TTL, sorted keys), or None when the lease does not exist."""
        answer = self.lease.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease_id, keys=True),
                                            timeout=CALL_TIMEOUT_S)
        if answer.TTL == -1:
            return None
        return answer.TTL, answer.grantedTTL, sorted(answer.keys)


class Soak:
    def __init__(self, binary, seed, seconds, root):
        self.seed = seed
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.member = Member(binary, root)
        self.shared = Shared()
        self.checker = Checker(random.Random(seed + 1))
        self.ops = Counter()
        self.restarts = Counter()

    def run(self):
        """Returns the problems of the first round that had any (empty when none had)."""
        self.member.start()
        deadline = time.monotonic() + self.seconds
        round_no = 0
        while time.monotonic() < deadline:
            round_no += 1
            problems = self.round(round_no)
            if problems:
                return [f"round {round_no} (seed {self.seed}):"] + problems
        self.restarts["final SIGTERM"] += 1
        code = self.member.stop()
        if code not in self.member.clean_exits:
            return [f"cairnd exited with {code} on the final SIGTERM:\n{self.member.log_tail()}"]
        return []

    def round(self, round_no):
        stop = threading.Event()
        workers = [Worker(self.shared, self.member.endpoint,
                          random.Random(f"{self.seed}/{round_no}/{i}"), f"r{round_no}w{i}", stop,
                          lease_id_base=(round_no << 24) | (i << 20))
                   for i in range(WORKERS)]
        for w in workers:
            w.start()
        extra = self.disturb_and_stop(round_no)
        stop.set()
        for w in workers:
            w.join(30)
            if w.is_alive():
                return [f"{w.name} still running 30 s after the server stopped"]
        ops = [op for w in workers for op in w.ops] + extra
        for op in ops:
            self.ops[f"{op.kind} {op.outcome}"] += 1
        problems = []
        try:
            if self.rng.random() < CRASH_IN_RECOVERY_SHARE:
                # A second crash while the server replays its log and opens its store.
                self.restarts["kill -9 during start-up"] += 1
                self.member.spawn()
                time.sleep(self.rng.uniform(0, 0.1))
                self.member.kill()
            self.member.start()
        except StartError as e:
            return [f"cairnd did not start again on its data dir: {e}"]
        with grpc.insecure_channel(self.member.endpoint) as channel:
            problems += self.checker.check_round(ops, ServerReader(channel), self.shared)
        if problems:
            # Every call of the failing round, in the order sent, for the post-mortem.
            path = os.path.join(os.path.dirname(self.member.log_path),
                                f"round-{round_no}-calls.txt")
            with open(path, "w") as f:
                for op in sorted(ops, key=lambda op: op.op_id):
                    answer = "" if op.answer is None else " " + str(op.answer).replace("\n", " ")
                    f.write(shorten(f"{op.worker} {op!r}{answer}\n"))
            problems.append(f"calls of this round: {path}")
        self.shared.lease_burst = False
        return problems

    def disturb_and_stop(self, round_no):
        """Lets the workers run, then stops the server one of several ways; returns the calls
        made here (a Compact right before the kill)."""
        rng = self.rng
        time.sleep(rng.uniform(*RUN_BEFORE_KILL_S))
        mode = rng.choices(("plain", "after compact", "lease burst"), (8, 1, 1))[0]
        extra = []
        if mode == "after compact":
            compactor = Worker(self.shared, self.member.endpoint, random.Random(rng.random()),
                               f"r{round_no}compactor", threading.Event(), lease_id_base=0)
            channel = grpc.insecure_channel(self.member.endpoint)
            compactor.connect(channel)
            call = threading.Thread(target=compactor.compact, args=(rng.random() < 0.5,))
            call.start()
            time.sleep(rng.uniform(0, 0.02))
        elif mode == "lease burst":
            self.shared.lease_burst = True
            time.sleep(rng.uniform(0.02, 0.3))
        if rng.random() < SIGTERM_SHARE:
            self.restarts[f"SIGTERM ({mode})"] += 1
            code = self.member.stop(signal.SIGTERM)
            if code not in self.member.clean_exits:
                raise SystemExit(f"round {round_no} (seed {self.seed}): cairnd exited with {code} "
                                 f"on SIGTERM:\n{self.member.log_tail()}")
        else:
            self.restarts[f"kill -9 ({mode})"] += 1
            self.member.kill()
        if mode == "after compact":
            call.join(30)
            channel.close()
            extra = compactor.ops
        return extra

    def summary(self):
        lines = [f"crash soak: seed {self.seed} (replay with CAIRN_SOAK_SEED={self.seed}), "
                 f"{self.seconds} s"]
        lines.append("  restarts: " + ", ".join(f"{k} {v}" for k, v in
                                                sorted(self.restarts.items())))
        lines.append("  calls: " + ", ".join(f"{k} {v}" for k, v in sorted(self.ops.items())))
        lines.append("  checks: " + ", ".join(f"{k} {v}" for k, v in
                                              sorted(self.checker.counts.items())))
        lines.append(f"  final revision {self.checker.model.revision}, compaction revision "
                     f"{self.checker.compacted_at}, live leases {len(self.checker.live_leases)}, "
                     f"revoked {len(self.checker.revoked_leases)}")
        return "\n".join(lines)


def main():
    env = os.environ.get("CAIRND", "/work/main/build/bin/cairnd")
    binary = ETCD_BIN if env in ("etcd", ETCD_BIN) else env
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"SKIP: no server binary at {binary} (set CAIRND)")
        return SKIP
    seed = int(os.environ.get("CAIRN_SOAK_SEED", random.randrange(1 << 31)))
    seconds = float(os.environ.get("CAIRN_SOAK_SECONDS", 600))
    bound_run_time(seconds + 240)
    root = tempfile.mkdtemp(prefix="cairn-soak-crash-")
    print(f"crash soak of {binary}: seed {seed}, {seconds:g} s, in {root}", flush=True)
    soak = Soak(binary, seed, seconds, root)
    try:
        problems = soak.run()
    except (StartError, SystemExit) as e:
        problems = [str(e)]
    finally:
        soak.member.kill()
    print(soak.summary(), flush=True)
    if problems:
        print("FAILED:\n" + shorten("\n".join(problems)), flush=True)
        print(f"server log: {soak.member.log_path}", flush=True)
        return 1
    if not os.environ.get("CAIRN_SOAK_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
    print("crash soak passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
