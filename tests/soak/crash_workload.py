"""The crash soak's workload: client threads issuing a random mix of etcd v3 calls over a small key
space against one server, recording what each call was and what the server answered.

Every call becomes an Op whose `outcome` is one of
  "acked"     - the server answered; `revision` is the answer's header revision and `answer` the
                response message;
  "refused"   - the server answered with an application error (`error`): not applied;
  "ambiguous" - the answer was lost (connection dropped, server killed): applied entirely or not
                at all, to be resolved by the checker.
A worker stops after its first ambiguous call (the server is usually gone).

Shared state between the workers (Shared, one lock) keeps the choices safe for the checker:
  * every write records the highest acknowledged revision when it was sent (`floor`): whatever
    revision it takes is above that, and a Compact is only ever sent at or below the floor of
    every write still in flight, so an in-flight write's revision can always be read back;
  * leases come from a pool of acknowledged grants; a lease leaves the pool before it is revoked;
  * one Compact at a time, each above the previous one.
Lease ids and put values are unique (values start with "v<op id>."), so the checker can tell
whose write it sees.
"""

import threading
import time

import grpc
import etcd3.etcdrpc as rpc

CALL_TIMEOUT_S = 10
PREFIXES = (b"a/", b"b/", b"c/")
KEYS = tuple(p + str(i).encode() for p in PREFIXES for i in range(8))
KEPT_LEASE_TTL_S = (1800, 3600)   # long enough never to expire during a soak
# Codes with which an answer may be lost with the server (or the connection) going away.
LOST_ANSWER_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                     grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                     grpc.StatusCode.INTERNAL}
LEASE_NOT_FOUND = "etcdserver: requested lease not found"


def prefix_end(prefix):
    return prefix[:-1] + bytes([prefix[-1] + 1])


class Op:
    """One call and its outcome; `request` is the model's plain-dict form (store_model)."""

    __slots__ = ("op_id", "request", "floor", "sent_at", "outcome", "revision", "answer",
                 "error", "worker")

    def __init__(self, op_id, request, floor, worker):
        self.op_id = op_id
        self.request = request
        self.floor = floor
        self.worker = worker
        self.sent_at = time.monotonic()
        self.outcome = None
        self.revision = None
        self.answer = None
        self.error = None

    @property
    def kind(self):
        return self.request["kind"]

    def __repr__(self):
        return (f"op {self.op_id} {self.request} -> {self.outcome}"
                f"{'' if self.revision is None else ' at revision %d' % self.revision}"
                f"{'' if self.error is None else ' error %r' % (self.error,)}")


class Shared:
    """What the workers share; every field is read and written under `lock`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.max_acked = 1
        self.in_flight = {}          # op_id -> floor, for writes
        self.lease_pool = {}         # lease id -> (ttl, granted at monotonic) of usable leases
        self.revoking = set()        # leases taken out of the pool to be revoked
        self.last_compact_sent = 0
        self.compacting = False
        self.lease_burst = False     # workers mostly grant leases while set
        self.seen = {}               # key -> last (value, create, mod) a worker saw
        self.next_op_id = 1

    def begin(self, request, worker, write=True):
        with self.lock:
            op = Op(self.next_op_id, request, self.max_acked, worker)
            self.next_op_id += 1
            if write:
                self.in_flight[op.op_id] = op.floor
            return op

    def end(self, op):
        with self.lock:
            # A write whose answer was lost may still be applied later: it keeps holding the
            # compaction back until the checker has resolved it.
            if op.outcome != "ambiguous":
                self.in_flight.pop(op.op_id, None)
            if op.outcome == "acked" and op.revision:
                self.max_acked = max(self.max_acked, op.revision)

    def compaction_target(self, rng):
        """A revision to compact at (and marks a compaction as under way), or None."""
        with self.lock:
            if self.compacting:
                return None
            high = min([self.max_acked] + list(self.in_flight.values()))
            low = self.last_compact_sent + 1
            if high - low < 10:
                return None
            target = rng.randint(low, high - 5)
            self.compacting = True
            self.last_compact_sent = target
            return target

    def compaction_done(self):
        with self.lock:
            self.compacting = False


class Worker(threading.Thread):
    """Issues random calls until `stop` is set or its first ambiguous call; `ops` lists them all."""

    def __init__(self, shared, endpoint, rng, name, stop, lease_id_base):
        super().__init__(daemon=True, name=name)
        self.shared = shared
        self.endpoint = endpoint
        self.rng = rng
        self.stop = stop
        self.lease_id_base = lease_id_base
        self.leases_made = 0
        self.ops = []

    def run(self):
        with grpc.insecure_channel(self.endpoint) as channel:
            self.connect(channel)
            while not self.stop.is_set():
                op = self.one_call()
                if op is not None and op.outcome == "ambiguous":
                    return

    def connect(self, channel):
        """Uses `channel` for the calls; run() does this itself, a caller that makes single calls
        from its own thread (compact()) does it first."""
        self.kv = rpc.KVStub(channel)
        self.lease = rpc.LeaseStub(channel)

    # ------------------------------------------------------------------ choosing

    def one_call(self):
        rng = self.rng
        if self.shared.lease_burst and rng.random() < 0.9:
            return self.lease_grant()
        roll = rng.random()
        if roll < 0.30:
            return self.put()
        if roll < 0.40:
            return self.delete(single=True)
        if roll < 0.44:
            return self.delete(single=False)
        if roll < 0.70:
            return self.txn()
        if roll < 0.78:
            return self.read()
        if roll < 0.83:
            return self.lease_grant()
        if roll < 0.88:
            return self.lease_revoke()
        if roll < 0.885:
            return self.compact(physical=rng.random() < 0.5)
        return self.put()

    def key(self):
        return self.rng.choice(KEYS)

    def value(self, op_id, part=0):
        """Unique per op and part; one in ten is 1-16 KiB, so the log rolls to new segments and
        the store grows and reuses pages during a soak."""
        value = f"v{op_id}.{part}".encode()
        if self.rng.random() < 0.1:
            value += b"." * self.rng.randint(1024, 16384)
        return value

    def some_range(self):
        """(key, range_end): one key, a prefix, a span inside a prefix, or everything."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            return self.key(), b""
        prefix = rng.choice(PREFIXES)
        if roll < 0.8:
            return prefix, prefix_end(prefix)
        if roll < 0.95:
            lo, hi = sorted(rng.sample(range(9), 2))
            return prefix + str(lo).encode(), prefix + str(hi).encode()
        return b"\0", b"\0"

    # ------------------------------------------------------------------ calls

    def call(self, op, fn):
        """Runs fn(); records the outcome on op. Returns op."""
        try:
            op.answer = fn()
            op.outcome = "acked"
            op.revision = op.answer.header.revision
        except grpc.RpcError as e:
            op.error = (e.code().name, e.details())
            op.outcome = "ambiguous" if e.code() in LOST_ANSWER_CODES else "refused"
        self.shared.end(op)
        self.ops.append(op)
        return op

    def put(self):
        rng = self.rng
        lease = 0
        if rng.random() < 0.25:
            with self.shared.lock:
                if self.shared.lease_pool:
                    lease = rng.choice(sorted(self.shared.lease_pool))
        request = {"kind": "put", "key": self.key(), "lease": lease,
                   "prev_kv": rng.random() < 0.3}
        op = self.shared.begin(request, self.name)
        request["value"] = self.value(op.op_id)
        self.call(op, lambda: self.kv.Put(rpc.PutRequest(
            key=request["key"], value=request["value"], lease=lease,
            prev_kv=request["prev_kv"]), timeout=CALL_TIMEOUT_S))
        if op.outcome == "acked":
            with self.shared.lock:
                self.shared.seen[request["key"]] = (request["value"], None, op.revision)
        return op

    def delete(self, single):
        key, range_end = (self.key(), b"") if single else self.some_range()
        request = {"kind": "delete", "key": key, "range_end": range_end,
                   "prev_kv": self.rng.random() < 0.3}
        op = self.shared.begin(request, self.name)
        return self.call(op, lambda: self.kv.DeleteRange(rpc.DeleteRangeRequest(
            key=key, range_end=range_end, prev_kv=request["prev_kv"]), timeout=CALL_TIMEOUT_S))

    def read(self):
        key, range_end = self.some_range()
        request = {"kind": "range", "key": key, "range_end": range_end}
        op = self.shared.begin(request, self.name, write=False)
        self.call(op, lambda: self.kv.Range(rpc.RangeRequest(key=key, range_end=range_end),
                                            timeout=CALL_TIMEOUT_S))
        if op.outcome == "acked":
            with self.shared.lock:
                for kv in op.answer.kvs:
                    self.shared.seen[kv.key] = (kv.value, kv.create_revision, kv.mod_revision)
        return op

    def compare(self):
        rng = self.rng
        key = self.key()
        target = rng.choice(("version", "create", "mod", "value"))
        result = rng.choice(("equal", "equal", "not_equal", "greater", "less"))
        with self.shared.lock:
            seen = self.shared.seen.get(key)
            max_acked = self.shared.max_acked
        if target == "value":
            operand = seen[0] if seen and rng.random() < 0.8 else b"v0.0"
        elif target == "version":
            operand = rng.randint(0, 4)
        elif target == "create":
            operand = seen[1] if seen and seen[1] and rng.random() < 0.7 else rng.choice(
                (0, rng.randint(1, max_acked)))
        else:
            operand = seen[2] if seen and rng.random() < 0.7 else rng.choice(
                (0, rng.randint(1, max_acked)))
        return (key, target, result, operand)

    def branch(self, op_id, part_base, size):
        """`size` ops on distinct keys (etcd refuses a branch that writes one key twice)."""
        ops = []
        for i, key in enumerate(self.rng.sample(KEYS, size)):
            roll = self.rng.random()
            if roll < 0.6:
                ops.append({"kind": "put", "key": key, "value": self.value(op_id, part_base + i),
                            "lease": 0})
            elif roll < 0.85:
                ops.append({"kind": "delete", "key": key, "range_end": b""})
            else:
                ops.append({"kind": "range", "key": key, "range_end": b""})
        return ops

    def txn(self):
        rng = self.rng
        request = {"kind": "txn", "compares": [self.compare() for _ in range(rng.randint(0, 2))]}
        op = self.shared.begin(request, self.name)
        request["success"] = self.branch(op.op_id, 0, rng.randint(0, 3))
        request["failure"] = self.branch(op.op_id, 10, rng.randint(0, 2))

        def to_request_op(o):
            if o["kind"] == "put":
                return rpc.RequestOp(request_put=rpc.PutRequest(key=o["key"], value=o["value"]))
            if o["kind"] == "delete":
                return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=o["key"]))
            return rpc.RequestOp(request_range=rpc.RangeRequest(key=o["key"]))

        def to_compare(c):
            key, target, result, operand = c
            compare = rpc.Compare(key=key, target=getattr(rpc.Compare, target.upper()),
                                  result=getattr(rpc.Compare, result.upper()))
            setattr(compare, {"version": "version", "create": "create_revision",
                              "mod": "mod_revision", "value": "value"}[target], operand)
            return compare

        txn_request = rpc.TxnRequest(compare=[to_compare(c) for c in request["compares"]],
                                     success=[to_request_op(o) for o in request["success"]],
                                     failure=[to_request_op(o) for o in request["failure"]])
        return self.call(op, lambda: self.kv.Txn(txn_request, timeout=CALL_TIMEOUT_S))

    def lease_grant(self):
        self.leases_made += 1
        lease_id = self.lease_id_base + self.leases_made
        ttl = self.rng.randint(*KEPT_LEASE_TTL_S)
        request = {"kind": "lease_grant", "lease": lease_id, "ttl": ttl}
        op = self.shared.begin(request, self.name, write=False)
        self.call(op, lambda: self.lease.LeaseGrant(rpc.LeaseGrantRequest(ID=lease_id, TTL=ttl),
                                                    timeout=CALL_TIMEOUT_S))
        if op.outcome == "acked":
            with self.shared.lock:
                self.shared.lease_pool[lease_id] = (ttl, op.sent_at)
        return op

    def lease_revoke(self):
        with self.shared.lock:
            if len(self.shared.lease_pool) < 3:
                return None
            lease_id = self.rng.choice(sorted(self.shared.lease_pool))
            del self.shared.lease_pool[lease_id]
            self.shared.revoking.add(lease_id)
        op = self.shared.begin({"kind": "lease_revoke", "lease": lease_id}, self.name)
        return self.call(op, lambda: self.lease.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease_id),
                                                            timeout=CALL_TIMEOUT_S))

    def compact(self, physical):
        target = self.shared.compaction_target(self.rng)
        if target is None:
            return None
        op = self.shared.begin({"kind": "compact", "revision": target, "physical": physical},
                               self.name, write=False)
        try:
            return self.call(op, lambda: self.kv.Compact(rpc.CompactionRequest(
                revision=target, physical=physical), timeout=CALL_TIMEOUT_S))
        finally:
            self.shared.compaction_done()
