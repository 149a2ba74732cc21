"""Cluster chaos soak: a real 3-member cairnd cluster on loopback under a randomized fault schedule.

While clients write, increment counters with Txn, read linearizably, watch, and keep leases alive,
a fault thread kills the leader or a follower (kill -9), hangs a member (SIGSTOP for a few seconds,
then SIGCONT; now and then the leader for longer than the leases' TTL), restarts killed members
(sometimes killing one again as it catches up) and transfers leadership, one fault at a time with
random pauses. At the end, with every member up, it checks what users rely on:
  - every acknowledged put is on every member with its value and revision, and nothing is there
    that no client wrote;
  - each Txn counter equals its acknowledged increments plus at most its ambiguous attempts;
  - no linearizable read returned a revision older than a write acknowledged before it started;
  - each watcher (reconnecting to another member whenever its stream breaks) saw strictly
    increasing revisions, nothing twice, and exactly what a fresh watch from revision 1 sees;
  - every member has the same revision and HashKV, and no alarm is raised;
  - kept-alive leases never died while kept alive and their keys remain; abandoned leases' keys
    are gone within TTL plus election slack.

Environment: CAIRN_SOAK_SECONDS (default 600) is how long faults run; CAIRN_SOAK_SEED replays a
fault schedule (the seed is printed first): the same faults and pauses in the same order, though
which member leads is up to the cluster and how many faults fit in the time varies a little.
E2E_KEEP=1 keeps the members' data and logs (they are kept anyway when a check fails). The
subject binary is chosen as in tests/e2e (CAIRND=etcd runs the soak against etcd 3.4, to check the
soak itself). Run with Debian's /usr/bin/python3 (python3-etcd3's generated stubs).
"""

import collections
import os
import random
import sys
import threading
import time

import grpc
from etcd3.etcdrpc.kv_pb2 import Event

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

from cluster_harness import Cluster, ClusterChecks, main, rpc  # noqa: E402
from e2e_harness import E2eTest, subject_path  # noqa: E402
from server_process import ETCD_BIN, bound_run_time  # noqa: E402

DURATION_S = float(os.environ.get("CAIRN_SOAK_SECONDS", "600"))
SEED = int(os.environ.get("CAIRN_SOAK_SEED") or int.from_bytes(os.urandom(4), "little"))
# Set-up and the final checks take a couple of minutes at most; a hung run is killed past this.
RUN_BOUND_S = DURATION_S + 280

RPC_TIMEOUT_S = 3          # every unary call; a hung member costs a client this much, then it fails over
WRITERS = 4
WRITE_PAUSE_S = 0.01       # between one writer's puts: keeps the final checks' key count moderate
COUNTERS = 3
THREADS_PER_COUNTER = 2    # two clients racing on each counter exercise the compare's failure branch
READERS = 2
WATCHERS = 2               # starting on different members
KEPT_LEASES = 3
KEPT_TTL_S = 15            # kept alive every KEEPALIVE_EVERY_S; the TTL leaves room for failovers
                           # (renewal gaps of 6 to 8 s were seen across a leader kill and a hang)
KEEPALIVE_EVERY_S = 1
KEEPALIVE_TIMEOUT_S = 1.5  # shorter than other calls: a hung member must not eat the TTL
ABANDONED_TTL_S = 3
ABANDON_EVERY_S = 2
# A leader change gives every lease its TTL again plus an election timeout (1 s here); a member
# that was hung may still answer as leader for about an election timeout. Both bound the slack.
ELECTION_SLACK_S = 3

WRITE_PREFIX = b"/soak/w/"
COUNTER_PREFIX = b"/soak/counter/"
KEPT_PREFIX = b"/soak/lease/kept/"
GONE_PREFIX = b"/soak/lease/gone/"

MEMBER_FLAGS = (
    # The leader compares every member's HashKV now and then; a mismatch raises the CORRUPT alarm.
    "--experimental-corrupt-check-time", "10s",
)
if subject_path() != ETCD_BIN:  # etcd 3.4 (run with CAIRND=etcd to check the soak) lacks this flag
    # A member restarted after missing more than this many entries catches up from a store image.
    MEMBER_FLAGS += ("--experimental-snapshot-catchup-entries", "500")


def prefix_end(prefix):
    return prefix[:-1] + bytes([prefix[-1] + 1])


class Channels:
    """One long-lived channel per member (ports survive restarts), reconnecting quickly after one."""

    OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
               ("grpc.max_reconnect_backoff_ms", 1000)]

    def __init__(self, members):
        self.members = members
        self._channels = [grpc.insecure_channel(m.endpoint, options=self.OPTIONS) for m in members]
        self.kv = [rpc.KVStub(c) for c in self._channels]
        self.watch = [rpc.WatchStub(c) for c in self._channels]
        self.lease = [rpc.LeaseStub(c) for c in self._channels]
        self.maintenance = [rpc.MaintenanceStub(c) for c in self._channels]

    def close(self):
        for c in self._channels:
            c.close()


class FailoverClient:
    """A client pointed at one member that moves to the next after any failed call. Not shared
    between threads."""

    def __init__(self, channels, first):
        self.channels = channels
        self.at = first % len(channels.members)

    def call(self, service, method, request, timeout=RPC_TIMEOUT_S):
        stub = getattr(self.channels, service)[self.at]
        try:
            return getattr(stub, method)(request, timeout=timeout)
        except grpc.RpcError:
            self.at = (self.at + 1) % len(self.channels.members)
            raise


def range_all(stub, prefix, serializable=False, timeout=20):
    """Every kv under prefix, paged, all pages at the first page's revision: (revision, [kv])."""
    kvs, start, revision = [], prefix, 0
    while True:
        resp = stub.Range(rpc.RangeRequest(key=start, range_end=prefix_end(prefix), limit=2000,
                                           revision=revision, serializable=serializable),
                          timeout=timeout)
        revision = revision or resp.header.revision
        kvs.extend(resp.kvs)
        if not resp.more or not resp.kvs:
            return revision, kvs
        start = resp.kvs[-1].key + b"\0"


def event_tuple(ev):
    return (ev.kv.mod_revision, int(ev.type), ev.kv.key, ev.kv.value)


class Watcher:
    """One watch of the write prefix from revision 1 that, whenever its stream breaks, resumes on
    the next member from the revision after the last event it saw. Records what it saw."""

    def __init__(self, channels, first_member, stop):
        self.ch = channels
        self.first = first_member
        self.stop = stop                       # set, then cancel(), to end it
        self.lock = threading.Lock()
        self.events = []                       # event_tuple()s in arrival order
        self.order_violations = []
        self.reconnects = 0
        self.errors = collections.Counter()
        self._stream = None

    def cancel(self):
        with self.lock:
            stream = self._stream
        if stream is not None:
            stream.cancel()

    def caught_up_to(self, revision):
        with self.lock:
            return bool(self.events) and self.events[-1][0] >= revision

    def run(self):
        m = self.first
        next_revision = 1
        while not self.stop.is_set():
            ended = threading.Event()

            def requests(start=next_revision):
                yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=WRITE_PREFIX, range_end=prefix_end(WRITE_PREFIX), start_revision=start))
                ended.wait()

            stream = self.ch.watch[m].Watch(requests())
            with self.lock:
                self._stream = stream
            if self.stop.is_set():
                stream.cancel()
            try:
                for resp in stream:
                    if resp.canceled:
                        with self.lock:
                            self.errors[f"canceled: {resp.cancel_reason or resp.compact_revision}"] += 1
                        break
                    with self.lock:
                        for ev in resp.events:
                            got = event_tuple(ev)
                            last = self.events[-1][0] if self.events else 0
                            if got[0] <= last:
                                self.order_violations.append(
                                    f"revision {got[0]} ({got[2]!r}) after {last}, from "
                                    f"{self.ch.members[m].name} (stream started at {next_revision})")
                            self.events.append(got)
                        if resp.events:
                            next_revision = max(next_revision, resp.events[-1].kv.mod_revision + 1)
            except grpc.RpcError as e:
                if not self.stop.is_set():  # not the cancel that ends the watch
                    with self.lock:
                        self.errors[e.code().name] += 1
            finally:
                ended.set()
            if self.stop.is_set():
                return
            with self.lock:
                self.reconnects += 1
            m = (m + 1) % len(self.ch.members)  # a different member each time the stream breaks
            time.sleep(0.1)


class Workload:
    """The client threads and what they observed. Every record is taken under self.lock."""

    def __init__(self, channels, seed):
        self.ch = channels
        self.seed = seed
        self.lock = threading.Lock()
        self.stop_writes = threading.Event()   # writers, counters, readers, lease granting
        self.stop_leases = threading.Event()   # keep-alives (they run through the final checks)
        self.stop_watch = threading.Event()
        self.threads = collections.defaultdict(list)  # stop event -> its threads
        # Writers
        self.attempted = {}                    # key -> value of every put ever sent
        self.acked = {}                        # key -> (value, revision from the put's header)
        self.max_acked_revision = 0
        self.recent_acked = collections.deque(maxlen=200)
        self.put_failures = collections.Counter()
        # Counters
        self.counter_acked = [0] * COUNTERS
        self.counter_ambiguous = [0] * COUNTERS
        self.counter_lost_races = [0] * COUNTERS
        # Linearizable reads
        self.reads_ok = 0
        self.reads_failed = 0
        self.stale_reads = []
        self.watchers = [Watcher(channels, w, self.stop_watch) for w in range(WATCHERS)]
        # Leases
        self.kept = {}                         # lease id -> key
        self.kept_last_ok_sent = {}            # lease id -> monotonic time the last renewing request left
        self.kept_max_gap = 0.0
        self.kept_deaths = []                  # (lease id, seconds since the last renewal was sent)
        self.keepalive_failures = 0
        self.abandoned = {}                    # lease id -> key (its put acked or ambiguous)
        self.grant_failures = 0
        self.writes_stopped_at = None

    # -- set-up -------------------------------------------------------------------------------

    def grant_kept_leases(self):
        client = FailoverClient(self.ch, 0)
        for i in range(KEPT_LEASES):
            key = KEPT_PREFIX + b"%d" % i
            deadline = time.monotonic() + 30
            while True:
                try:
                    sent = time.monotonic()
                    lease = client.call("lease", "LeaseGrant", rpc.LeaseGrantRequest(TTL=KEPT_TTL_S))
                    client.call("kv", "Put", rpc.PutRequest(key=key, value=b"up", lease=lease.ID))
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            self.kept[lease.ID] = key
            self.kept_last_ok_sent[lease.ID] = sent

    def start(self):
        def spawn(stop, target, *args):
            t = threading.Thread(target=target, args=args, daemon=True)
            t.start()
            self.threads[stop].append(t)
        for w in range(WRITERS):
            spawn(self.stop_writes, self._writer, w)
        for c in range(COUNTERS):
            for t in range(THREADS_PER_COUNTER):
                spawn(self.stop_writes, self._counter, c, t)
        for r in range(READERS):
            spawn(self.stop_writes, self._reader, r)
        spawn(self.stop_writes, self._abandon_leases)
        for watcher in self.watchers:
            spawn(self.stop_watch, watcher.run)
        spawn(self.stop_leases, self._keep_alive)

    def stop(self, event, timeout=RPC_TIMEOUT_S * 3):
        """Sets one of the stop events and joins its threads; returns how many are still running."""
        event.set()
        if event is self.stop_writes:
            self.writes_stopped_at = time.monotonic()
        if event is self.stop_watch:
            for watcher in self.watchers:
                watcher.cancel()
        deadline = time.monotonic() + timeout
        for t in self.threads[event]:
            t.join(max(0.1, deadline - time.monotonic()))
        return sum(t.is_alive() for t in self.threads[event])

    # -- writers ------------------------------------------------------------------------------

    def _writer(self, w):
        client = FailoverClient(self.ch, w)
        n = 0
        while not self.stop_writes.is_set():
            # A key is never reused: an unacknowledged put may still have been applied.
            key = WRITE_PREFIX + b"%d-%07d" % (w, n)
            value = b"%d:%d:%d" % (self.seed, w, n)
            n += 1
            with self.lock:
                self.attempted[key] = value
            try:
                resp = client.call("kv", "Put", rpc.PutRequest(key=key, value=value))
            except grpc.RpcError as e:
                with self.lock:
                    self.put_failures[e.code().name] += 1
                time.sleep(0.05)
                continue
            with self.lock:
                self.acked[key] = (value, resp.header.revision)
                self.max_acked_revision = max(self.max_acked_revision, resp.header.revision)
                self.recent_acked.append((key, value, resp.header.revision))
            time.sleep(WRITE_PAUSE_S)

    # -- read-modify-write counters -------------------------------------------------------------

    def _counter(self, c, t):
        client = FailoverClient(self.ch, c + t)
        key = COUNTER_PREFIX + b"%d" % c
        seen = None  # (value, mod_revision) last read
        while not self.stop_writes.is_set():
            if seen is None:
                try:
                    resp = client.call("kv", "Range", rpc.RangeRequest(key=key))
                except grpc.RpcError:
                    time.sleep(0.05)
                    continue
                seen = (int(resp.kvs[0].value), resp.kvs[0].mod_revision) if resp.kvs else (0, 0)
            value, mod_revision = seen
            txn = rpc.TxnRequest(
                compare=[rpc.Compare(key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                     mod_revision=mod_revision)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=b"%d" % (value + 1)))],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=key))])
            try:
                resp = client.call("kv", "Txn", txn)
            except grpc.RpcError:
                with self.lock:
                    self.counter_ambiguous[c] += 1
                seen = None
                time.sleep(0.05)
                continue
            if resp.succeeded:
                with self.lock:
                    self.counter_acked[c] += 1
                seen = (value + 1, resp.header.revision)
            else:
                with self.lock:
                    self.counter_lost_races[c] += 1
                kvs = resp.responses[0].response_range.kvs
                seen = (int(kvs[0].value), kvs[0].mod_revision) if kvs else (0, 0)
            time.sleep(0.02)

    # -- linearizable reads -------------------------------------------------------------------

    def _reader(self, r):
        rng = random.Random(self.seed * 31 + r)
        members = len(self.ch.members)
        while not self.stop_writes.is_set():
            time.sleep(0.02)
            with self.lock:
                if not self.recent_acked:
                    continue
                # Both taken before the read starts: the write was acknowledged before it.
                floor = self.max_acked_revision
                key, value, revision = rng.choice(self.recent_acked)
            m = rng.randrange(members)
            try:
                resp = self.ch.kv[m].Range(rpc.RangeRequest(key=key), timeout=RPC_TIMEOUT_S)
            except grpc.RpcError:
                with self.lock:
                    self.reads_failed += 1
                continue
            problem = None
            if resp.header.revision < floor:
                problem = f"header.revision {resp.header.revision} < acknowledged revision {floor}"
            elif not resp.kvs:
                problem = f"acknowledged key {key!r} (revision {revision}) missing"
            elif resp.kvs[0].value != value or resp.kvs[0].mod_revision != revision:
                problem = (f"{key!r} read value {resp.kvs[0].value!r} at mod_revision "
                           f"{resp.kvs[0].mod_revision}, acknowledged {value!r} at {revision}")
            with self.lock:
                self.reads_ok += 1
                if problem:
                    self.stale_reads.append(f"{self.ch.members[m].name} at {time.strftime('%H:%M:%S')}: "
                                            f"{problem}")

    # -- leases -------------------------------------------------------------------------------

    def _keep_alive(self):
        client = FailoverClient(self.ch, 1)
        while not self.stop_leases.is_set():
            for lease_id in list(self.kept):
                sent = time.monotonic()
                try:
                    stub = self.ch.lease[client.at]
                    responses = stub.LeaseKeepAlive(iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]),
                                                    timeout=KEEPALIVE_TIMEOUT_S)
                    resp = next(responses)
                    responses.cancel()
                except (grpc.RpcError, StopIteration):
                    client.at = (client.at + 1) % len(self.ch.members)
                    with self.lock:
                        self.keepalive_failures += 1
                    continue
                with self.lock:
                    gap = sent - self.kept_last_ok_sent[lease_id]
                    if resp.TTL > 0:
                        self.kept_max_gap = max(self.kept_max_gap, gap)
                        self.kept_last_ok_sent[lease_id] = sent
                    else:
                        # Dead; renewed by a request sent `gap` seconds before this one was sent.
                        self.kept_deaths.append((lease_id, round(time.monotonic() -
                                                                 self.kept_last_ok_sent[lease_id], 2)))
                        del self.kept[lease_id]
            self.stop_leases.wait(KEEPALIVE_EVERY_S)

    def _abandon_leases(self):
        client = FailoverClient(self.ch, 2)
        n = 0
        while not self.stop_writes.wait(ABANDON_EVERY_S):
            try:
                lease = client.call("lease", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ABANDONED_TTL_S))
            except grpc.RpcError:
                with self.lock:
                    self.grant_failures += 1
                continue
            key = GONE_PREFIX + b"%d" % n
            n += 1
            with self.lock:
                self.abandoned[lease.ID] = key
            try:
                client.call("kv", "Put", rpc.PutRequest(key=key, value=b"abandoned", lease=lease.ID))
            except grpc.RpcError:
                pass  # ambiguous: the key may exist, attached to the lease; it must go with it


class Faults:
    """The fault schedule: every random choice comes from one generator seeded by the soak's seed,
    drawn in the same order whatever the cluster does, so a seed replays the same schedule."""

    # A long hang of the leader (a VM stall) outlasts every lease's TTL: when it wakes it must not
    # expire leases the new leader kept alive.
    KINDS_ALL_UP = [("kill_leader", 3), ("kill_follower", 3), ("pause", 3), ("move_leader", 2),
                    ("long_pause_leader", 1)]
    # With one member down, a pause leaves no quorum for a moment: on purpose, briefly. A crash
    # mid-recovery restarts the member and kills it again while it catches up (maybe mid-image).
    KINDS_ONE_DOWN = [("restart", 5), ("pause", 1), ("move_leader", 1), ("crash_while_recovering", 1)]

    def __init__(self, cluster, channels, seed, log):
        self.cluster = cluster
        self.ch = channels
        self.rng = random.Random(seed)
        self.log = log
        self.counts = collections.Counter()
        self.failures = collections.Counter()
        self.ids = {id(m): m.status().header.member_id for m in cluster.members}

    def _pick(self, kinds, x):
        total = sum(w for _, w in kinds)
        x *= total
        for kind, w in kinds:
            if x < w:
                return kind
            x -= w
        return kinds[-1][0]

    def step(self):
        """One fault, then a random pause."""
        pick, target, hang_s, pause_s = (self.rng.random(), self.rng.random(),
                                         self.rng.uniform(1, 5), self.rng.uniform(1, 4))
        down = [m for m in self.cluster.members if not m.running()]
        kinds = self.KINDS_ALL_UP if not down else self.KINDS_ONE_DOWN
        kind = self._pick(kinds, pick)
        getattr(self, "_" + kind)(target, hang_s if not down else min(hang_s, 2))
        self.counts[kind] += 1
        time.sleep(pause_s)

    def _leader(self):
        try:
            return self.cluster.leader(timeout=5)
        except AssertionError:
            return None

    def _choose(self, members, target):
        return members[min(int(target * len(members)), len(members) - 1)]

    def _kill_leader(self, target, _):
        victim = self._leader()
        if victim is None:  # no agreed leader now: kill someone anyway, the schedule stays the same
            self.failures["kill_leader: no leader, killed a member"] += 1
            victim = self._choose(self.cluster.running(), target)
        self.log(f"kill -9 leader {victim.name}")
        victim.kill()

    def _kill_follower(self, target, _):
        lead = self._leader()
        victim = self._choose([m for m in self.cluster.running() if m is not lead], target)
        self.log(f"kill -9 follower {victim.name}")
        victim.kill()

    def _pause(self, target, hang_s):
        victim = self._choose(self.cluster.running(), target)
        self.log(f"SIGSTOP {victim.name} for {hang_s:.1f}s")
        victim.pause()
        time.sleep(hang_s)
        victim.resume()

    def _crash_while_recovering(self, _, hang_s):
        down = [m for m in self.cluster.members if not m.running()]
        up_for = hang_s / 2  # 0.5 to 1 s: from start-up to mid catch-up
        self.log("restart " + " ".join(m.name for m in down) + f", kill -9 after {up_for:.2f}s")
        for m in down:
            m.launch()
        time.sleep(up_for)
        for m in down:
            m.kill()

    def _long_pause_leader(self, target, hang_s):
        victim = self._leader() or self._choose(self.cluster.running(), target)
        hang_s += KEPT_TTL_S
        self.log(f"SIGSTOP leader {victim.name} for {hang_s:.1f}s")
        victim.pause()
        time.sleep(hang_s)
        victim.resume()

    def _restart(self, *_):
        self.restart_all()

    def restart_all(self):
        down = [m for m in self.cluster.members if not m.running()]
        if down:
            self.log("restart " + " ".join(m.name for m in down))
        for m in down:
            m.launch()
        for m in down:
            m.wait_ready(timeout=60)

    def _move_leader(self, target, _):
        lead = self._leader()
        if lead is None:
            self.failures["move_leader: no leader"] += 1
            return
        to = self._choose([m for m in self.cluster.answering() if m is not lead] or [lead], target)
        self.log(f"move leader {lead.name} -> {to.name}")
        try:
            self.ch.maintenance[self.cluster.members.index(lead)].MoveLeader(
                rpc.MoveLeaderRequest(targetID=self.ids[id(to)]), timeout=10)
        except grpc.RpcError as e:
            self.failures[f"move_leader: {e.code().name} {e.details()}"] += 1


class ClusterChaosSoak(ClusterChecks, E2eTest):

    def _remove_tmp(self):
        if getattr(self, "keep_tmp", False):
            print(f"kept the members' data and logs in {self.tmp}", flush=True)
            return
        super()._remove_tmp()

    def log(self, text):
        print(f"[{time.monotonic() - self.t0:7.1f}s] {text}", flush=True)

    def test_chaos(self):
        bound_run_time(RUN_BOUND_S)
        self.t0 = time.monotonic()
        self.keep_tmp = True  # until every check passed
        print(f"cluster chaos soak: seed {SEED} (replay with CAIRN_SOAK_SEED={SEED}), "
              f"{DURATION_S:.0f}s of faults", flush=True)
        self.cluster = Cluster(self, extra_flags=MEMBER_FLAGS)
        self.ch = Channels(self.cluster.members)
        self.addCleanup(self.ch.close)
        work = Workload(self.ch, SEED)
        work.grant_kept_leases()
        faults = Faults(self.cluster, self.ch, SEED, self.log)
        work.start()
        try:
            end = time.monotonic() + DURATION_S
            while time.monotonic() < end:
                faults.step()
        finally:
            for m in self.cluster.members:
                if m.paused:
                    m.resume()
        faults.restart_all()
        self.log("faults stopped; every member up")
        stuck = work.stop(work.stop_writes)

        problems = []
        contents = self.check_writes(work, problems)
        self.check_counters(work, problems)
        problems += [f"stale read: {s}" for s in work.stale_reads]
        self.check_watch(work, contents, problems)
        self.check_leases(work, problems)
        stuck += work.stop(work.stop_leases)
        revisions = self.check_convergence(problems)
        if stuck:
            problems.append(f"{stuck} client threads did not stop")

        self.print_summary(work, faults, revisions)
        if problems:
            for m in self.cluster.members:
                print(f"--- {m.name} log tail ({m.log_path})\n{m.log_tail(20)}", flush=True)
        for problem in problems[:100]:
            print(f"PROBLEM: {problem}", flush=True)
        if problems:
            self.fail(f"seed {SEED}: {len(problems)} problems (the first 100 are listed above)")
        self.keep_tmp = bool(os.environ.get("E2E_KEEP"))

    def check_writes(self, work, problems):
        """Every member has every acknowledged put, and only puts some client sent; returns each
        member's {key: (value, mod_revision)} under the write prefix."""
        # A write through the leader after the last client write: each linearizable range below
        # must include it.
        leader = self.cluster.leader(timeout=30)
        fence = self.ch.kv[self.cluster.members.index(leader)].Put(
            rpc.PutRequest(key=b"/soak/fence", value=b"1"), timeout=10).header.revision
        with work.lock:
            acked = dict(work.acked)
            attempted = dict(work.attempted)
        contents = []
        for i, m in enumerate(self.cluster.members):
            revision, kvs = range_all(self.ch.kv[i], WRITE_PREFIX)
            if revision < fence:
                problems.append(f"{m.name}: linearizable range at revision {revision} < fence {fence}")
            stored = {kv.key: (kv.value, kv.mod_revision) for kv in kvs}
            contents.append(stored)
            lost = [k for k in acked if k not in stored]
            wrong = [k for k in acked if k in stored and stored[k] != acked[k]]
            phantom = [k for k in stored if attempted.get(k) != stored[k][0]]
            for what, keys, show in (("lost acknowledged writes", lost, lambda k: acked[k]),
                                     ("acknowledged writes with another value or revision", wrong,
                                      lambda k: (acked[k], stored[k])),
                                     ("keys no client wrote", phantom, lambda k: stored[k])):
                if keys:
                    problems.append(f"{m.name}: {len(keys)} {what}, e.g. "
                                    + ", ".join(f"{k!r} {show(k)}" for k in sorted(keys)[:5]))
        for i in range(1, len(contents)):
            if contents[i] != contents[0]:
                problems.append(f"{self.cluster.members[i].name}'s {WRITE_PREFIX!r} differs from "
                                f"{self.cluster.members[0].name}'s")
        return contents

    def check_counters(self, work, problems):
        """No increment lost, none applied twice, on any member."""
        for c in range(COUNTERS):
            key = COUNTER_PREFIX + b"%d" % c
            low, high = work.counter_acked[c], work.counter_acked[c] + work.counter_ambiguous[c]
            for i, m in enumerate(self.cluster.members):
                kvs = self.ch.kv[i].Range(rpc.RangeRequest(key=key), timeout=10).kvs
                value = int(kvs[0].value) if kvs else 0
                if not low <= value <= high:
                    problems.append(f"{m.name}: counter {c} is {value}, expected {low}..{high} "
                                    f"({work.counter_acked[c]} acknowledged increments, "
                                    f"{work.counter_ambiguous[c]} ambiguous)")

    def check_watch(self, work, contents, problems):
        """Each watcher saw events in order, nothing twice, and exactly what a fresh watch from
        revision 1 sees, which is the write prefix's content."""
        last_write = max((r for _, r in contents[0].values()), default=0)
        deadline = time.monotonic() + 30
        while (not all(w.caught_up_to(last_write) for w in work.watchers)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        if work.stop(work.stop_watch):
            problems.append("a watcher did not stop")
        fresh = self.fresh_watch(0, last_write)
        for i in range(1, len(self.cluster.members)):
            other = self.fresh_watch(i, last_write)
            if other != fresh:
                problems.append(f"a fresh watch on {self.cluster.members[i].name}: "
                                + self.describe_watch_difference(other, fresh))
        for n, watcher in enumerate(work.watchers):
            with watcher.lock:
                watched = list(watcher.events)
                problems += [f"watcher {n} order: {v}" for v in watcher.order_violations]
            if watched != fresh:
                problems.append(f"watcher {n}: " + self.describe_watch_difference(watched, fresh))
        history = sorted((r, int(Event.PUT), k, v) for k, (v, r) in contents[0].items())
        if fresh != history:
            problems.append(f"a fresh watch from revision 1 ({len(fresh)} events) differs from the "
                            f"range of {WRITE_PREFIX!r} ({len(history)} keys)")

    def check_leases(self, work, problems):
        """Kept leases never died and their keys are on every member; abandoned leases and their
        keys go within their TTL plus election slack."""
        for lease_id, since in work.kept_deaths:
            if since < KEPT_TTL_S - ELECTION_SLACK_S:
                problems.append(f"kept lease {lease_id:x} died {since}s after a renewal was sent "
                                f"(TTL {KEPT_TTL_S}s)")
            else:
                problems.append(f"kept lease {lease_id:x} expired: no renewal got through for "
                                f"{since}s (TTL {KEPT_TTL_S}s): the cluster was unavailable that long")
        # The last abandoned lease was granted before the writes stopped.
        allowance = ABANDONED_TTL_S + ELECTION_SLACK_S + 10
        deadline = work.writes_stopped_at + allowance
        with work.lock:
            abandoned = set(work.abandoned)
        while True:
            keys_left = [m.name for i, m in enumerate(self.cluster.members)
                         if range_all(self.ch.kv[i], GONE_PREFIX)[1]]
            leases_left = [m.name for i, m in enumerate(self.cluster.members)
                           if abandoned & self.lease_ids(i)]
            if not keys_left and not leases_left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if keys_left:
            keys = [kv.key for kv in range_all(self.ch.kv[0], GONE_PREFIX)[1]]
            problems.append(f"abandoned leases' keys still on {keys_left} {allowance}s after the "
                            f"writes stopped: {keys[:5]}")
        if leases_left:
            ids = [format(i, "x") for i in sorted(abandoned & self.lease_ids(0))]
            problems.append(f"abandoned leases still listed on {leases_left} {allowance}s after the "
                            f"writes stopped: {ids[:5]}")
        with work.lock:
            kept = set(work.kept.values())
        for i, m in enumerate(self.cluster.members):
            present = {kv.key for kv in range_all(self.ch.kv[i], KEPT_PREFIX)[1]}
            if present != kept:
                problems.append(f"{m.name}: kept leases' keys {sorted(present)}, expected {sorted(kept)}")

    def lease_ids(self, member):
        return {lease.ID for lease in
                self.ch.lease[member].LeaseLeases(rpc.LeaseLeasesRequest(), timeout=10).leases}

    def check_convergence(self, problems):
        """Every member at one revision with one HashKV, and no alarm; returns the revisions."""
        revisions = self.wait_same_revision()
        if len(set(revisions)) != 1:
            problems.append(f"members' revisions differ: {revisions}")
        try:
            self.wait_hashes_agree(self.cluster.members, timeout=30)
        except AssertionError as e:
            problems.append(str(e))
        alarms = self.ch.maintenance[0].Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.GET),
                                              timeout=10).alarms
        if alarms:
            problems.append(f"alarms raised: {alarms}")
        return revisions

    def fresh_watch(self, member, last_write):
        """The events a new watch from revision 1 on the write prefix, on the member-th member,
        delivers up to last_write."""
        events = []
        done = threading.Event()

        def requests():
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=WRITE_PREFIX, range_end=prefix_end(WRITE_PREFIX), start_revision=1))
            done.wait()

        stream = self.ch.watch[member].Watch(requests(), timeout=60)
        try:
            if last_write:
                for resp in stream:
                    events.extend(event_tuple(ev) for ev in resp.events)
                    if events and events[-1][0] >= last_write:
                        break
        finally:
            done.set()
            stream.cancel()
        return events

    def describe_watch_difference(self, watched, fresh):
        first = next((i for i, (a, b) in enumerate(zip(watched, fresh)) if a != b),
                     min(len(watched), len(fresh)))
        return (f"{len(watched)} events where a fresh watch from revision 1 sees "
                f"{len(fresh)}; first difference at #{first}: "
                f"{watched[first:first + 2]} where fresh has {fresh[first:first + 2]}; missed "
                f"{len(set(fresh) - set(watched))}, extra {len(set(watched) - set(fresh))}, "
                f"repeated {len(watched) - len(set(watched))}")

    def wait_same_revision(self, timeout=15):
        """Each member's own (serializable) revision, once they agree or the time is up."""
        deadline = time.monotonic() + timeout
        while True:
            revisions = []
            for kv in self.ch.kv:
                try:
                    revisions.append(kv.Range(rpc.RangeRequest(key=b"x", serializable=True),
                                              timeout=5).header.revision)
                except grpc.RpcError:
                    revisions.append(None)
            if len(set(revisions)) == 1 or time.monotonic() > deadline:
                return revisions
            time.sleep(0.1)

    def print_summary(self, work, faults, revisions):
        with work.lock:
            failed = sum(work.put_failures.values())
            lines = [
                f"seed {SEED}; {DURATION_S:.0f}s of faults, {time.monotonic() - self.t0:.0f}s in all",
                "faults: " + (", ".join(f"{k} {n}" for k, n in sorted(faults.counts.items())) or "none"),
                "fault hiccups: " + (", ".join(f"{k} {n}" for k, n in sorted(faults.failures.items()))
                                     or "none"),
                f"puts: {len(work.acked)} acknowledged, {failed} failed or ambiguous "
                f"({', '.join(f'{k} {n}' for k, n in sorted(work.put_failures.items())) or 'none'})",
                "counters: " + ", ".join(
                    f"#{c} {work.counter_acked[c]} acked/{work.counter_ambiguous[c]} ambiguous/"
                    f"{work.counter_lost_races[c]} lost races" for c in range(COUNTERS)),
                f"linearizable reads: {work.reads_ok} ok, {work.reads_failed} failed, "
                f"{len(work.stale_reads)} stale",
            ] + [
                f"watcher {n}: {len(w.events)} events, {w.reconnects} reconnects "
                f"({', '.join(f'{k} {c}' for k, c in sorted(w.errors.items())) or 'none'}), "
                f"{len(w.order_violations)} order violations" for n, w in enumerate(work.watchers)
            ] + [
                f"leases: {KEPT_LEASES} kept (longest renewal gap {work.kept_max_gap:.1f}s, "
                f"{work.keepalive_failures} failed keep-alives, {len(work.kept_deaths)} died), "
                f"{len(work.abandoned)} abandoned, {work.grant_failures} failed grants",
                f"final revisions {revisions}",
            ]
        print("=== cluster chaos soak summary\n" + "\n".join("  " + line for line in lines), flush=True)


if __name__ == "__main__":
    main()
