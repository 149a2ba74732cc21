#!/usr/bin/python3
"""Differential test of the Lock (v3lockpb) and Election (v3electionpb) services: etcd 3.4 and the
subject get the same seeded random stream of requests, one step at a time, and must answer the same.

The stream: leases granted with client-chosen IDs (so that lock and candidate keys, which embed the
lease in hex, are the same on both servers) and revoked; Lock with live, revoked, never granted,
negative and 0 leases on overlapping names (the empty name, names that are prefixes of others, a
lock and an election sharing a name); Unlock of held keys, of waiters' keys, of keys never held, of
keys already unlocked and of the empty key; Campaign (new candidates, the same lease again with the
same or a new value), Proclaim and Resign with the leader key an answer gave, a resigned (stale) key,
a wrong rev, another lease, a never granted lease or no leader field; Leader; Observe streams; KV
puts and deletes (single keys and whole prefixes) on the lock and election prefixes; and a Range of
the whole key space, which shows what the services wrote.

Lock and Campaign block while an older contender exists. Each is sent to both servers as an async
call (deadline far beyond the test; callers that give up are covered by the cancel step, below),
and after every step the test waits until both servers agree on which calls have answered and on
what each observer has seen, with nothing changing for SETTLE_QUIET_S. So the order in which
waiters are granted is compared as the step at which each call answered (a step that frees several
contenders at once, a lease revoke or a prefix delete, frees them in one revision), and every
answer is compared whole: key, header revision (a waiter's is the store's at its final read, a
candidate's that of its first txn), LeaderKey, errors by gRPC code and message.

What is not compared, and why:
- Header identities (cluster id, member id, raft term), as in every differential test.
- A lease the server grants itself (Lock or Campaign with lease 0; etcd's ids are random) is
  replaced in keys and lease fields by G<n>, n the step whose call granted it (found in the lease
  list right after the call wrote its key); answers and whole-range reads sort by the masked keys.
- Observe: the leader key/values each observer receives are compared in order, their response
  headers are not (a watch response's header revision is the store's when it was sent).
  Observers only see every change because the test settles after each write; etcd's Observe, like
  Cairn's, may skip leaderships that come and go between two of its reads.
- A Lock call is cancelled (the caller gives up) only while its key is still the one it enqueued:
  etcd's Lock then deletes the lease's key whatever it is by then (one deleted and re-created, maybe
  by another Lock with the same lease, which loses the lock with it); Cairn deletes only the key
  its call created. Listed in the README (Lock and Election). Campaign calls are cancelled freely
  (etcd's clean-up there checks the create revision, as Cairn's does).
- Proclaim and Resign with lease 0 are not sent: etcd's election server then opens a session,
  which grants a fresh 60 s lease nobody keeps alive, and its Proclaim puts the leader key on that
  lease (the key then expires a minute later); Cairn puts the key without a lease and grants none.
  Listed in the README (Lock and Election).

Settling is waiting, not a timing assert: a step's effects (a waiter woken through a watch and a
read, an observer's next leader) must show on both servers before the quiet period ends, which on a
machine loaded enough to break that shows as a difference; DIFF_SETTLE_S (default 0.2) lengthens it.

Fixed seeds by default (DIFF_SEEDS, DIFF_STEPS as in test_differential; DIFF_SEEDS=random explores).
The first difference fails the test with the seed and the step that replay it.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import etcd_api  # noqa: E402
import grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from test_differential import for_each_seed  # noqa: E402

KV = etcd_api.messages()
LOCK = etcd_api.messages("v3lockpb")
ELECTION = etcd_api.messages("v3electionpb")

NAMES = [b"l", b"l", b"l/x", b"lo", b"", b"e", b"e", b"e/1"]
LEASES = [0x10, 0x11, 0x12, 0x1a, 0x2b]       # client-chosen ids, granted and revoked in the stream
NEVER_GRANTED = [0x99, -7]
VALUES = [b"", b"v1", b"v2"]
LEASE_TTL = 600                                # nothing expires during a run
CALL_TIMEOUT_S = 5
BLOCKING_TIMEOUT_S = 300                       # blocked calls end by the final release, not by this
SETTLE_QUIET_S = float(os.environ.get("DIFF_SETTLE_S", "0.2"))   # raise on a loaded machine
SETTLE_LIMIT_S = 8
MAX_OBSERVERS = 4


def lease_hex(lease):
    """The key suffix etcd's clients write (Go's %x of a signed int64)."""
    return ("-" if lease < 0 else "") + format(abs(lease), "x")


def contender_key(name, lease):
    return name + b"/" + lease_hex(lease).encode()


class Side:
    """One server: its stubs and what its answers revealed (server-granted leases)."""

    def __init__(self, server):
        self.server = server
        self.channel = server.channel()
        self.kv = etcd_api.Stub(self.channel, "KV")
        self.lease = etcd_api.Stub(self.channel, "Lease")
        self.lock = etcd_api.Stub(self.channel, "Lock", "v3lockpb")
        self.election = etcd_api.Stub(self.channel, "Election", "v3electionpb")
        self.granted = {}                      # lease id the server chose -> "G<n>"

    def revision(self):
        return self.kv.Range(KV.RangeRequest(key=b"\0readiness"), timeout=CALL_TIMEOUT_S).header.revision

    def norm_lease(self, lease):
        if lease == 0 or lease in LEASES or lease in NEVER_GRANTED:
            return str(lease)
        # Named by the step that granted it (start_blocking); one no step named gets a number.
        return self.granted.setdefault(lease, f"G{100000 + len(self.granted)}")

    def norm_key(self, key):
        prefix, slash, suffix = key.rpartition(b"/")
        if slash:
            try:
                lease = int(suffix.decode(), 16)
            except ValueError:
                return key
            if lease_hex(lease).encode() == suffix and lease in self.granted:
                return prefix + b"/" + self.granted[lease].encode()
        return key


def masked(side, response):
    """A comparable text of a response: header identities cleared, server-granted leases named."""
    copy = type(response)()
    copy.CopyFrom(response)

    def walk(msg):
        for field, value in msg.ListFields():
            if field.name == "header":
                value.cluster_id = value.member_id = value.raft_term = 0
            elif field.message_type is not None:
                for item in (value if field.label == field.LABEL_REPEATED else [value]):
                    walk(item)
        if msg.DESCRIPTOR.name in ("KeyValue", "LeaderKey", "LockResponse"):
            msg.key = side.norm_key(msg.key)
        if msg.DESCRIPTOR.name in ("KeyValue", "LeaderKey") and msg.lease:
            # A lease the server chose, G<n>, becomes -1000 - n (the field stays an int64).
            name = side.norm_lease(msg.lease)
            if name.startswith("G"):
                msg.lease = -1000 - int(name[1:])

    walk(copy)
    if copy.DESCRIPTOR.name == "RangeResponse":
        # Keys naming leases the servers chose sort by those ids: sort by the masked key.
        kvs = sorted((type(kv).FromString(kv.SerializeToString()) for kv in copy.kvs), key=lambda kv: kv.key)
        copy.ClearField("kvs")
        copy.kvs.extend(kvs)
    return text_format.MessageToString(copy, as_one_line=True, as_utf8=False)


def answer(side, fn):
    try:
        response = fn()
    except grpc.RpcError as e:
        return ("error", e.code().name, e.details()), None
    except grpc.FutureCancelledError:
        return ("cancelled by the test",), None
    return ("ok", masked(side, response)), response


class Blocking:
    """A Lock or Campaign sent to both servers as async calls."""

    def __init__(self, ident, what, sides, method, request_for):
        self.ident = ident
        self.what = what
        service, name = method
        self.futures = [getattr(getattr(side, service), name).future(request_for(side),
                                                                     timeout=BLOCKING_TIMEOUT_S)
                        for side in sides]
        self.key = None
        self.created = None                    # the key's create revision once enqueued (etcd)
        self.answered_at = [None, None]
        self.answers = [None, None]
        self.raw = [None, None]

    def collect(self, sides, step):
        for i, (side, future) in enumerate(zip(sides, self.futures)):
            if self.answers[i] is None and future.done():
                self.answers[i], self.raw[i] = answer(side, future.result)
                self.answered_at[i] = step

    def done(self, i):
        return self.futures[i].done()


class Observer:
    """One Observe stream on each server; seen[i]: the leader kvs server i sent (state() masks
    them)."""

    def __init__(self, ident, name, sides):
        self.ident = ident
        self.name = name
        self.sides = sides
        self.lock = threading.Lock()
        self.seen = [[], []]
        self.ended = [None, None]
        self.calls = [side.election.Observe(ELECTION.LeaderRequest(name=name), timeout=BLOCKING_TIMEOUT_S)
                      for side in sides]
        self.threads = [threading.Thread(target=self._read, args=(i, side), daemon=True)
                        for i, side in enumerate(sides)]
        for t in self.threads:
            t.start()

    def _read(self, i, side):
        try:
            for response in self.calls[i]:
                kv = response.kv
                with self.lock:
                    self.seen[i].append((kv.key, kv.value, kv.create_revision, kv.mod_revision,
                                         kv.version, kv.lease))
        except grpc.RpcError as e:
            with self.lock:
                if e.code() != grpc.StatusCode.CANCELLED:
                    self.ended[i] = (e.code().name, e.details())
            return
        with self.lock:
            self.ended[i] = ("OK", "")

    def state(self, i):
        """What server i's stream received, server-granted leases masked (named by now)."""
        side = self.sides[i]
        with self.lock:
            return ([(side.norm_key(k), v, c, m, n, side.norm_lease(lease)) for k, v, c, m, n, lease in self.seen[i]],
                    self.ended[i])

    def close(self):
        for call in self.calls:
            call.cancel()
        for t in self.threads:
            t.join(timeout=5)


class DifferentialLockTest(harness.ServerPairTest):

    def fail_step(self, text):
        recent = "\n".join(f"   {line}" for line in self.trace[-12:])
        self.fail(f"seed {self.seed}, step {self.step}: {text}\n"
                  f"replay: DIFF_SEEDS={self.seed} DIFF_STEPS={self.step + 1}\n"
                  f"the steps before (etcd's answers):\n{recent}")

    def both(self, what, fn):
        """Sends fn(side) to both servers; fails on different answers; returns the raw responses."""
        answers = [answer(side, lambda side=side: fn(side)) for side in self.sides]
        if answers[0][0] != answers[1][0]:
            self.fail_step(f"{what}\n   etcd:    {answers[0][0]}\n   {self.subj.kind}: {answers[1][0]}")
        self.counts[what.split("(")[0]] = self.counts.get(what.split("(")[0], 0) + 1
        self.trace.append(f"{self.step}: {what} -> {str(answers[0][0])[:300]}")
        return answers[0][0], [a[1] for a in answers]

    # ---- state both servers agree on (kept from etcd's answers) ----

    def settle(self, where):
        """Waits until both servers have answered the same blocked calls and their observers have
        seen the same, with nothing changing for SETTLE_QUIET_S; then compares the answers."""
        deadline = time.monotonic() + SETTLE_LIMIT_S
        last, quiet_since = None, time.monotonic()
        while True:
            state = ([tuple(b.done(i) for b in self.pending) for i in (0, 1)],
                     [[o.state(i) for o in self.observers] for i in (0, 1)])
            if state != last:
                last, quiet_since = state, time.monotonic()
            same = state[0][0] == state[0][1] and state[1][0] == state[1][1]
            if same and time.monotonic() - quiet_since >= SETTLE_QUIET_S:
                break
            if time.monotonic() > deadline:
                waiting = [[b.what for b in self.pending if not b.done(i)] for i in (0, 1)]
                for o in self.observers:
                    if o.state(0) != o.state(1):
                        self.fail_step(f"observer {o.ident} of {o.name!r} differs ({where}):\n"
                                       f"   etcd:    {o.state(0)}\n   {self.subj.kind}: {o.state(1)}")
                self.fail_step(f"blocked calls differ ({where}): still waiting\n"
                               f"   etcd:    {waiting[0]}\n   {self.subj.kind}: {waiting[1]}")
            time.sleep(0.01)
        still = []
        for b in self.pending:
            b.collect(self.sides, self.step)
            if b.answers[0] is None:
                still.append(b)
                continue
            if b.answers[0] != b.answers[1] or b.answered_at[0] != b.answered_at[1]:
                self.fail_step(f"{b.what} (sent at step {b.ident}) answered differently ({where}):\n"
                               f"   etcd:    step {b.answered_at[0]}: {b.answers[0]}\n"
                               f"   {self.subj.kind}: step {b.answered_at[1]}: {b.answers[1]}")
            self.trace.append(f"{self.step}: {b.what} (sent at {b.ident}) -> {str(b.answers[0])[:300]}")
            self.finished(b)
        self.pending = still

    def finished(self, b):
        kind = b.what.split("(")[0]
        outcome = "granted" if b.answers[0][0] == "ok" else "refused"
        self.counts[f"{kind} {outcome}"] = self.counts.get(f"{kind} {outcome}", 0) + 1
        if b.answers[0][0] != "ok":
            return
        if kind == "Lock":
            self.held.append(tuple(r.key for r in b.raw))
        else:
            self.leaders.append(tuple(r.leader for r in b.raw))

    def existing(self, side, key):
        kvs = side.kv.Range(KV.RangeRequest(key=key), timeout=CALL_TIMEOUT_S).kvs
        return kvs[0] if kvs else None

    def start_blocking(self, what, method, request_for, key=None, value=None):
        """key: the contender key the call will use (None: lease 0, the server picks); value: the
        candidate's value (Campaign)."""
        writes = True
        if key is not None:
            # A lease that already has its key writes nothing (Lock) or only a new value (Campaign).
            kv = self.existing(self.sides[0], key)
            writes = kv is None or (value is not None and kv.value != value)
        revisions = [side.revision() for side in self.sides]
        self.trace.append(f"{self.step}: {what} sent")
        b = Blocking(self.step, what, self.sides, method, request_for)
        b.key = key
        self.pending.append(b)
        # Wait until the call has written (or answered) on both servers before the next step, so
        # that the queue order is the stream's.
        deadline = time.monotonic() + 5
        for i, side in enumerate(self.sides):
            while (writes and not b.done(i) and side.revision() == revisions[i]
                   and time.monotonic() < deadline):
                time.sleep(0.005)
        if key is None:
            # Lease 0: the server granted a lease before writing; name it by this step.
            for side in self.sides:
                for lease in side.lease.LeaseLeases(KV.LeaseLeasesRequest(), timeout=CALL_TIMEOUT_S).leases:
                    if lease.ID not in LEASES and lease.ID not in side.granted:
                        side.granted[lease.ID] = f"G{self.step}"
        elif not b.done(0):
            kv = self.existing(self.sides[0], key)
            b.created = kv.create_revision if kv else None
        self.settle(f"after {what}")

    # ---- the stream ----

    def pick_lease(self):
        r = self.r
        p = r.random()
        if p < 0.65 and self.live:
            return r.choice(sorted(self.live))
        if p < 0.8:
            return r.choice(LEASES)
        if p < 0.9:
            return r.choice(NEVER_GRANTED)
        return 0

    def pick_contender(self):
        """(name, lease) of a Lock or Campaign; sometimes those of a contender key a KV put wrote
        (the call then finds its key already there, even for a lease never granted)."""
        if self.put_contenders and self.r.random() < 0.2:
            never = [c for c in self.put_contenders if c[1] in NEVER_GRANTED]
            return self.r.choice(never if never and self.r.random() < 0.5 else self.put_contenders)
        return self.r.choice(NAMES), self.pick_lease()

    def some_key(self):
        """A key on the lock/election prefixes: a contender's, a free-form one, or a whole name."""
        r = self.r
        name = r.choice(NAMES)
        p = r.random()
        if p < 0.6:
            lease = r.choice(LEASES + NEVER_GRANTED)
            self.put_contenders.append((name, lease))
            return contender_key(name, lease)
        if p < 0.8:
            return name + b"/k"
        return name

    def step_once(self):
        r = self.r
        p = r.random()
        if p < 0.08:
            lease = r.choice(LEASES)
            self.both(f"LeaseGrant({lease:#x})",
                      lambda s: s.lease.LeaseGrant(KV.LeaseGrantRequest(ID=lease, TTL=LEASE_TTL),
                                                   timeout=CALL_TIMEOUT_S))
            self.live.add(lease)
        elif p < 0.13:
            lease = r.choice(sorted(self.live)) if self.live and r.random() < 0.85 else r.choice(LEASES)
            self.both(f"LeaseRevoke({lease:#x})",
                      lambda s: s.lease.LeaseRevoke(KV.LeaseRevokeRequest(ID=lease), timeout=CALL_TIMEOUT_S))
            self.live.discard(lease)
            self.settle("after a revoke")
        elif p < 0.32:
            name, lease = self.pick_contender()
            self.start_blocking(f"Lock({name!r}, {lease:#x})", ("lock", "Lock"),
                                lambda s: LOCK.LockRequest(name=name, lease=lease),
                                key=contender_key(name, lease) if lease else None)
        elif p < 0.42:
            q = r.random()
            if q < 0.5 and self.held:
                keys = r.choice(self.held)
            elif q < 0.7:
                keys = (self.some_key(),) * 2
            elif q < 0.8:
                keys = (b"",) * 2
            else:
                keys = (contender_key(r.choice(NAMES), r.choice(LEASES)),) * 2
            self.both(f"Unlock({keys[0]!r})",
                      lambda s: s.lock.Unlock(LOCK.UnlockRequest(key=keys[self.sides.index(s)]),
                                              timeout=CALL_TIMEOUT_S))
            self.settle("after an unlock")
        elif p < 0.57:
            (name, lease), value = self.pick_contender(), r.choice(VALUES)
            self.start_blocking(f"Campaign({name!r}, {lease:#x}, {value!r})", ("election", "Campaign"),
                                lambda s: ELECTION.CampaignRequest(name=name, lease=lease, value=value),
                                key=contender_key(name, lease) if lease else None, value=value)
        elif p < 0.70:
            self.leader_txn(r.random() < 0.55)
        elif p < 0.75:
            name = r.choice(NAMES)
            self.both(f"Leader({name!r})",
                      lambda s: s.election.Leader(ELECTION.LeaderRequest(name=name), timeout=CALL_TIMEOUT_S))
        elif p < 0.79:
            if len(self.observers) < MAX_OBSERVERS:
                name = r.choice(NAMES)
                self.observers.append(Observer(self.step, name, self.sides))
                self.addCleanup(self.observers[-1].close)
                self.counts["Observe"] = self.counts.get("Observe", 0) + 1
                self.settle(f"after Observe({name!r})")
        elif p < 0.86:
            if r.random() < 0.25:
                # A contender key of a lease no grant made: Lock/Campaign with that lease then
                # find it and wait or lead (etcd checks no lease on that path).
                name, never = r.choice(NAMES), r.choice(NEVER_GRANTED)
                self.put_contenders.append((name, never))
                key = contender_key(name, never)
            else:
                key = self.some_key()
            lease = r.choice([0, 0] + sorted(self.live))
            value = r.choice(VALUES)
            self.both(f"Put({key!r}, lease {lease:#x})",
                      lambda s: s.kv.Put(KV.PutRequest(key=key, value=value, lease=lease), timeout=CALL_TIMEOUT_S))
            self.settle("after a put")
        elif p < 0.93:
            if r.random() < 0.6:
                key, end = self.some_key(), b""
            else:
                key = r.choice(NAMES) + b"/"
                end = key[:-1] + b"0"
            self.both(f"DeleteRange({key!r}, {end!r})",
                      lambda s: s.kv.DeleteRange(KV.DeleteRangeRequest(key=key, range_end=end),
                                                 timeout=CALL_TIMEOUT_S))
            self.settle("after a delete")
        elif p < 0.97:
            self.both("Range(all)", lambda s: s.kv.Range(KV.RangeRequest(key=b"\0", range_end=b"\0"),
                                                         timeout=CALL_TIMEOUT_S))
        elif self.pending:
            # A caller gives up: both servers must take its key out of the queue.
            b = r.choice(self.pending)
            kv = None if b.key is None else self.existing(self.sides[0], b.key)
            if b.what.startswith("Lock") and (b.key is None or (kv and kv.create_revision != b.created)):
                # etcd's Lock deletes the key of its lease even when that is no longer the key
                # it enqueued (deleted and re-created meanwhile, perhaps by another Lock with the
                # same lease, which then loses the lock); Cairn deletes only its own incarnation
                # (README, Lock and Election). Lease 0: the incarnation is not tracked here.
                return
            revisions = [side.revision() for side in self.sides]
            writes = b.key is None or kv is not None
            for f in b.futures:
                f.cancel()
            # The server deletes the caller's key after the cancel reached it: wait for that write
            # (none comes if the key is already gone; lease 0: unknown key, hence the bound).
            deadline = time.monotonic() + 2
            for i, side in enumerate(self.sides):
                while writes and side.revision() == revisions[i] and time.monotonic() < deadline:
                    time.sleep(0.005)
            self.counts["cancel"] = self.counts.get("cancel", 0) + 1
            self.settle(f"after cancelling {b.what}")

    def leader_txn(self, proclaim):
        """Proclaim or Resign, with a leader key an answer gave or a spoiled one."""
        r = self.r
        if self.leaders and r.random() < 0.85:
            pair = [ELECTION.LeaderKey.FromString(k.SerializeToString()) for k in r.choice(self.leaders)]
        else:
            pair = [ELECTION.LeaderKey(name=r.choice(NAMES), key=self.some_key(), rev=r.randint(0, 40),
                                       lease=r.choice(LEASES))] * 2
        q = r.random()
        how = "given"
        if q < 0.15:
            how = "wrong rev"
            for k in pair:
                k.rev += r.choice([-1, 1])
        elif q < 0.3:
            how = "other lease"
            lease = r.choice(LEASES + NEVER_GRANTED)     # never 0: see the module comment
            for k in pair:
                k.lease = lease
        elif q < 0.35:
            how = "no leader field"
            pair = [None, None]
        if pair[0] is not None and pair[0].lease == 0:
            return
        value = r.choice(VALUES)

        def request(side):
            k = pair[self.sides.index(side)]
            if proclaim:
                req = ELECTION.ProclaimRequest(value=value)
            else:
                req = ELECTION.ResignRequest()
            if k is not None:
                req.leader.CopyFrom(k)
            return req

        shown = "none" if pair[0] is None else f"{pair[0].key!r} rev {pair[0].rev}"
        if proclaim:
            self.both(f"Proclaim({shown}, {how}, {value!r})",
                      lambda s: s.election.Proclaim(request(s), timeout=CALL_TIMEOUT_S))
        else:
            self.both(f"Resign({shown}, {how})", lambda s: s.election.Resign(request(s), timeout=CALL_TIMEOUT_S))
        self.settle("after a leader txn")

    def run_seed(self, seed, steps):
        self.seed, self.step = seed, 0
        self.r = random.Random(f"lock-{seed}")
        self.sides = [Side(server) for server in self.servers()]
        for side in self.sides:
            self.addCleanup(side.channel.close)
        self.pending, self.observers, self.held, self.leaders = [], [], [], []
        self.live, self.counts, self.trace, self.put_contenders = set(), {}, [], []
        for step in range(steps):
            self.step = step
            self.step_once()
            if not self.subj.running():
                self.fail_step(f"subject died\n{self.subj.log_tail()}")
        # Release everything: every blocked call must answer, as in etcd.
        self.step = steps
        for _ in range(3):
            self.both("DeleteRange(all)", lambda s: s.kv.DeleteRange(
                KV.DeleteRangeRequest(key=b"\0", range_end=b"\0"), timeout=CALL_TIMEOUT_S))
            self.settle("releasing everything at the end")
            if not self.pending:
                break
            self.step += 1
        if self.pending:
            self.fail_step(f"calls still blocked after releasing everything: {[b.what for b in self.pending]}")
        for o in self.observers:
            o.close()
        print(f"seed {seed}: " + ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items())), file=sys.stderr)

    def test_lock_and_election_answer_as_etcd(self):
        for_each_seed(self, self.run_seed, 120)


if __name__ == "__main__":
    harness.main_or_skip()
