#!/usr/bin/python3
"""Differential test of the whole Watch protocol: etcd 3.4 and the subject get the same seeded random
stream of KV requests (test_differential.RequestStream, compared answer by answer as there) mixed with
watch requests on several Watch streams at once, and every stream must receive the same.

Watch requests: creates (key, prefix, from-key, empty and inverted ranges, an empty key, user-chosen
watch ids including ids in use and negative ones, NOPUT/NODELETE/both/unknown filters, prev_kv,
fragment, progress_notify, start revisions current, past, compacted and future), cancels (of a live
id, an id already cancelled, an id never used, -1), progress requests and empty requests. Writes
beside the KV stream: txns putting many keys in one revision, and pairs of large values (a
response for a prev_kv watcher then passes the fragment size, so fragment=true watchers get pieces).

What is compared, per stream and watch id: every created/cancel answer (id, flags, reason, compact
revision, header revision), every event (all fields, prev_kv), every progress-request answer and
its header revision, the fragment pieces of watchers that are synced when the large values come,
and which watchers hear progress notifications once the store is idle (not when: see below).

etcd's timing, and how the comparison stays out of it:
- etcd delivers a watcher's events on one channel and control answers on another, and its send loop
  picks between them at random; it catches up watchers from history on a 100 ms loop (and only then
  cancels one whose start is compacted). So before a cancel, a progress request or a large write the
  test waits until both servers' streams have received the same and nothing has changed for a while
  (`settle`), and it compares events flattened per watch id, never how they were cut into responses
  (etcd sends one response per revision to a synced watcher and up to 1000 revisions at once when
  catching up; Cairn joins a watcher's waiting events into one response).
- Before a compaction it waits as test_differential does (a watcher still catching up in etcd would be
  cancelled by it, in Cairn not).
- Fragment pieces are compared only for watchers that were synced when the large values came (a
  catch-up response's size depends on when etcd's loop ran).
- Progress notifications (the servers run with a 1 s interval) are compared only once the store is
  idle: which live watchers have had one carrying the final revision, and that no watcher that did not
  ask got one. Header revisions of event responses are not compared (timing decides them when a
  response holds several revisions).

Fixed seeds by default (DIFF_SEEDS, DIFF_STEPS as in test_differential; DIFF_SEEDS=random explores).
The first difference fails the test with the seed and the step that replay it.
"""

import os
import queue
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402
import grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from test_differential import (KEYS, RANGE_ENDS, RequestStream, call, first_difference, for_each_seed,  # noqa: E402
                               show)

STREAMS = 3
PROGRESS_NOTIFY_INTERVAL_S = 1
BIG_KEYS = [b"big/1", b"big/2"]          # two, so that the key space stays at 12 (see test_differential)
BIG_VALUE_BYTES = 740_000                # two of them fit in one request (1.5 MiB); with prev_kv two
                                         # events pass the 2 MiB fragment size
WATCH_KEYS = KEYS + [b"big/", b"big/1", b""]
WATCH_RANGE_ENDS = RANGE_ENDS + [b"big0"]
USER_WATCH_IDS = [1, 2, 3, 7, 100, -5]
NEVER_USED_ID = 12345
SETTLE_QUIET_S = 0.15                    # longer than etcd's 100 ms catch-up loop
SETTLE_LIMIT_S = 8


def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data, pos):
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


# python3-etcd3's generated messages predate the later Watch fields (WatchCreateRequest.watch_id = 7
# and .fragment = 8, WatchRequest.progress_request = 3, WatchResponse.fragment = 7), so the stream's
# requests are sent as bytes built here and its responses are read around them.
def create_request(create, watch_id=0, fragment=False):
    body = create.SerializeToString()
    if watch_id:
        body += b"\x38" + varint(watch_id & 0xFFFF_FFFF_FFFF_FFFF)   # int64: two's complement
    if fragment:
        body += b"\x40\x01"
    return b"\x0a" + varint(len(body)) + body


def cancel_request(watch_id):
    return rpc.WatchRequest(cancel_request=rpc.WatchCancelRequest(watch_id=watch_id)).SerializeToString()


PROGRESS_REQUEST = b"\x1a\x00"
EMPTY_REQUEST = b""


def deserialize_response(data):
    """(WatchResponse, fragment flag)."""
    fragment = False
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
            if field == 7:
                fragment = bool(value)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire_type} in a WatchResponse")
    return rpc.WatchResponse.FromString(data), fragment


def channel(server):
    # etcd sends a catch-up of large values as one response, far above gRPC's 4 MiB default.
    return grpc.insecure_channel(server.endpoint, options=[("grpc.max_receive_message_length", -1)])


class Stream:
    """One Watch stream and what it received.

    items[watch_id]: ('created', canceled, reason, header revision) for a create's answer,
    ('event', ...) for each event, ('canceled', compact revision, reason, header revision) for a
    cancel; a progress-request answer (watch id -1) is ('progress', header revision).
    notifications[watch_id]: header revisions of progress notifications (empty responses).
    pieces[watch_id]: each fragmented response as the tuple of its pieces' event counts."""

    def __init__(self, chan):
        self._requests = queue.Queue()
        self._lock = threading.Lock()
        self._items = {}
        self._notifications = {}
        self._pieces = {}
        self._open_pieces = {}
        self._created = []   # (watch id, created item) in the order the answers came
        self.changes = 0
        self.broken = None
        watch = chan.stream_stream("/etcdserverpb.Watch/Watch", request_serializer=bytes,
                                   response_deserializer=deserialize_response)
        self._call = watch(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            for response, fragment in self._call:
                self._record(response, fragment)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.broken = f"{e.code().name}: {e.details()}"

    def _record(self, r, fragment):
        with self._lock:
            self.changes += 1
            items = self._items.setdefault(r.watch_id, [])
            rev = r.header.revision
            if r.created:
                items.append(("created", r.canceled, r.cancel_reason, rev))
                self._created.append((r.watch_id, items[-1]))
                return
            for e in r.events:
                prev = e.prev_kv
                items.append(("event", e.type, e.kv.key, len(e.kv.value), hash(e.kv.value),
                              e.kv.create_revision, e.kv.mod_revision, e.kv.version, e.kv.lease,
                              e.HasField("prev_kv"), prev.key, len(prev.value), hash(prev.value),
                              prev.create_revision, prev.mod_revision, prev.version, prev.lease))
            if r.events and (fragment or r.watch_id in self._open_pieces):
                self._open_pieces.setdefault(r.watch_id, []).append(len(r.events))
                if not fragment:
                    self._pieces.setdefault(r.watch_id, []).append(tuple(self._open_pieces.pop(r.watch_id)))
            if r.canceled or r.compact_revision:
                items.append(("canceled", r.canceled, r.compact_revision, r.cancel_reason, rev))
            elif not r.events:
                if r.watch_id == -1:
                    items.append(("progress", rev))
                else:
                    self._notifications.setdefault(r.watch_id, []).append(rev)

    def send(self, request):
        self._requests.put(request)

    def items(self):
        with self._lock:
            return {k: list(v) for k, v in self._items.items()}

    def notifications(self):
        with self._lock:
            return {k: list(v) for k, v in self._notifications.items()}

    def pieces(self):
        with self._lock:
            return {k: list(v) for k, v in self._pieces.items()}

    def created(self):
        with self._lock:
            return list(self._created)

    def count(self, watch_id, kind):
        with self._lock:
            return sum(1 for item in self._items.get(watch_id, []) if item[0] == kind)

    def close(self):
        self._requests.put(None)
        self._call.cancel()
        self._reader.join(timeout=5)


class WatchRequests:
    """The random watch side of the stream; `kv` is the RequestStream (its revision and compaction)."""

    def __init__(self, seed, kv):
        self.r = random.Random(f"watch-{seed}")
        self.kv = kv

    def create(self):
        r = self.r
        req = rpc.WatchCreateRequest(key=r.choice(WATCH_KEYS), range_end=r.choice(WATCH_RANGE_ENDS),
                                     prev_kv=r.random() < 0.4, progress_notify=r.random() < 0.3)
        fragment = r.random() < 0.3
        watch_id = 0
        if r.random() < 0.15:   # the large values' prefix, as a fragment-accepting prev_kv watcher
            req.key, req.range_end, req.prev_kv, fragment = b"big/", b"big0", True, True
        if r.random() < 0.05:
            req.range_end = req.key                                  # empty range: refused
        if r.random() < 0.25:
            watch_id = r.choice(USER_WATCH_IDS)
        if r.random() < 0.4:
            req.start_revision = self.kv.some_revision()
            if req.start_revision == self.kv.compacted > 0:
                # The documented difference (README, Watch): etcd's compaction at R drops the
                # tombstones of keys deleted at R, so its watchers from R miss those DELETE events.
                req.start_revision += 1
        if r.random() < 0.25:
            req.filters.extend(r.choice([[0], [1], [0, 1], [1, 0], [0, 0], [7]]))
        return req, watch_id, fragment

    def wide_txn(self):
        """Puts of many keys in one revision."""
        keys = self.r.sample(KEYS, self.r.randint(4, len(KEYS)))
        return rpc.TxnRequest(success=[rpc.RequestOp(request_put=rpc.PutRequest(
            key=k, value=bytes([self.r.randrange(256)]) * self.r.randint(0, 4))) for k in keys])

    def big_txn(self):
        return rpc.TxnRequest(success=[rpc.RequestOp(request_put=rpc.PutRequest(
            key=k, value=bytes([self.r.randrange(256)]) * BIG_VALUE_BYTES)) for k in BIG_KEYS])


class DifferentialWatchTest(harness.ServerPairTest):

    SERVER_FLAGS = ("--experimental-watch-progress-notify-interval", f"{PROGRESS_NOTIFY_INTERVAL_S}s")

    def run_seed(self, seed, steps):
        kv = RequestStream(seed)
        watch = WatchRequests(seed, kv)
        r = watch.r
        self.seed = seed
        chans = [channel(s) for s in self.servers()]
        for c in chans:
            self.addCleanup(c.close)
        stubs = [{"kv": rpc.KVStub(c), "lease": rpc.LeaseStub(c)} for c in chans]
        # pairs[i] = (etcd's stream i, the subject's stream i)
        self.pairs = [tuple(Stream(c) for c in chans) for _ in range(STREAMS)]
        for pair in self.pairs:
            for s in pair:
                self.addCleanup(s.close)
        # Per stream, from etcd's answers: ids alive, ids seen, progress_notify ids, ids whose
        # fragments are compared.
        live = [set() for _ in range(STREAMS)]
        used = [set() for _ in range(STREAMS)]
        notify = [set() for _ in range(STREAMS)]
        synced_fragments = [set() for _ in range(STREAMS)]

        def send_kv(step, service, method, request):
            if method == "Compact":
                time.sleep(0.3)   # see the module comment
            want = call(stubs[0], service, method, request)
            got = call(stubs[1], service, method, request)
            if want != got:
                self.fail(f"seed {seed}, step {step}: {method} "
                          f"{text_format.MessageToString(request, as_one_line=True)[:500]}\n"
                          f"   etcd:    {show(want)}\n   {self.subj.kind}: {show(got)}\n"
                          f"replay: DIFF_SEEDS={seed} DIFF_STEPS={step + 1}")
            if want[0] == "ok" and want[1].HasField("header") and want[1].header.revision:
                kv.revision = want[1].header.revision
            if method == "Compact" and want[0] == "ok":
                kv.compacted = request.revision

        for step in range(steps):
            self.step = step
            i = r.randrange(STREAMS)
            pair = self.pairs[i]
            choice = r.random()
            if choice < 0.06:
                request, user_id, fragment = watch.create()
                before = [len(s.created()) for s in pair]
                for s in pair:
                    s.send(create_request(request, user_id, fragment))
                answers = [self.wait_created(s, n, request) for s, n in zip(pair, before)]
                if answers[0] != answers[1]:
                    self.fail(f"seed {seed}, step {step}: stream {i} create "
                              f"{text_format.MessageToString(request, as_one_line=True)} watch_id: {user_id} fragment: {fragment}\n"
                              f"   etcd:    {answers[0]}\n   {self.subj.kind}: {answers[1]}\n"
                              f"replay: DIFF_SEEDS={seed} DIFF_STEPS={step + 1}")
                watch_id, canceled = answers[0][0], answers[0][1][1]
                if not canceled:
                    live[i].add(watch_id)
                    used[i].add(watch_id)
                    if request.progress_notify:
                        notify[i].add(watch_id)
                    if fragment and (request.start_revision == 0 or request.start_revision > kv.revision):
                        synced_fragments[i].add(watch_id)
            elif choice < 0.09:
                self.settle(f"before a cancel on stream {i}")
                pick = r.random()
                if pick < 0.5 and live[i]:
                    watch_id = r.choice(sorted(live[i]))
                elif pick < 0.7 and used[i] - live[i]:
                    watch_id = r.choice(sorted(used[i] - live[i]))
                elif pick < 0.85:
                    watch_id = NEVER_USED_ID
                else:
                    watch_id = -1
                for s in pair:
                    s.send(cancel_request(watch_id))
                self.settle(f"after cancel of {watch_id} on stream {i}")
            elif choice < 0.105:
                self.settle(f"before a progress request on stream {i}")
                before = [s.count(-1, "progress") for s in pair]
                for s in pair:
                    s.send(PROGRESS_REQUEST)
                for s, n, server in zip(pair, before, self.servers()):
                    if not self.wait_for(lambda: s.count(-1, "progress") > n, 5):
                        self.fail(f"seed {seed}, step {step}: {server.kind} did not answer a progress "
                                  f"request on stream {i}")
                self.settle(f"after a progress request on stream {i}")
            elif choice < 0.11:
                for s in pair:
                    s.send(EMPTY_REQUEST)   # no request in it: ignored by both
            elif choice < 0.12:
                send_kv(step, "kv", "Txn", watch.wide_txn())
            elif choice < 0.135:
                # Large values: the second txn's events carry large prev_kvs. Settled around, so that
                # no other response of the watcher joins them (fragment pieces are compared).
                for _ in range(2):
                    self.settle("before large values")
                    send_kv(step, "kv", "Txn", watch.big_txn())
                if r.random() < 0.5:
                    self.settle("before deleting the large values")
                    send_kv(step, "kv", "DeleteRange", rpc.DeleteRangeRequest(key=b"big/", range_end=b"big0"))
                self.settle("after large values")
            else:
                send_kv(step, *kv.next())
            for pair_ in self.pairs:
                for s, server in zip(pair_, self.servers()):
                    if s.broken:
                        self.fail(f"seed {seed}, step {step}: {server.kind}'s watch stream broke: {s.broken}")
            # Keep the live sets in step with cancels etcd answered (compactions, cancels).
            items = pair[0].items()
            for watch_id in list(live[i]):
                if any(item[0] == "canceled" for item in items.get(watch_id, [])[-1:]):
                    live[i].discard(watch_id)
            if not self.subj.running():
                self.fail(f"seed {seed}, step {step}: subject died\n{self.subj.log_tail()}")

        self.settle("at the end")
        for i, (ref, subj) in enumerate(self.pairs):
            want, got = ref.pieces(), subj.pieces()
            for watch_id in synced_fragments[i]:
                if want.get(watch_id, []) != got.get(watch_id, []):
                    self.fail(f"seed {seed}: stream {i} watch {watch_id}: fragment pieces differ\n"
                              f"   etcd:    {want.get(watch_id)}\n   subject: {got.get(watch_id)}")
        self.compare_notifications(kv.revision, live, notify)
        print(f"seed {seed}: {self.summary(self.pairs, synced_fragments)}", file=sys.stderr)

    @staticmethod
    def summary(pairs, synced_fragments):
        """What the subject's streams received (so that a run shows what it covered)."""
        kinds = {}
        for i, (_, subj) in enumerate(pairs):
            for watch_id, items in subj.items().items():
                for item in items:
                    kind = item[0] if item[0] != "created" or not item[1] else "refused"
                    if item[0] == "canceled" and item[2]:
                        kind = "compacted"
                    kinds[kind] = kinds.get(kind, 0) + 1
            kinds["fragmented"] = kinds.get("fragmented", 0) + sum(
                len(v) for w, v in subj.pieces().items() if w in synced_fragments[i])
            kinds["notifications"] = kinds.get("notifications", 0) + sum(
                len(v) for v in subj.notifications().values())
        return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.002)
        return predicate()

    def wait_created(self, s, before, request):
        """The answer to the create just sent: (watch id, its created item)."""
        if not self.wait_for(lambda: len(s.created()) > before, 5):
            self.fail(f"seed {self.seed}, step {self.step}: no answer to create "
                      f"{text_format.MessageToString(request, as_one_line=True)}")
        return s.created()[before]

    def settle(self, where):
        """Waits until every stream of both servers has received the same and nothing changed for
        SETTLE_QUIET_S; fails on the difference that remains after SETTLE_LIMIT_S."""
        deadline = time.monotonic() + SETTLE_LIMIT_S
        last = None
        quiet_since = time.monotonic()
        while True:
            changes = tuple(s.changes for pair in self.pairs for s in pair)
            if changes != last:
                last, quiet_since = changes, time.monotonic()
            differences = [(i, first_difference(ref.items(), subj.items()))
                           for i, (ref, subj) in enumerate(self.pairs)]
            differences = [(i, d) for i, d in differences if d]
            if not differences and time.monotonic() - quiet_since >= SETTLE_QUIET_S:
                return
            if time.monotonic() > deadline:
                i, difference = (differences or [(None, "none, but the streams never went quiet")])[0]
                self.fail(f"seed {self.seed}, step {self.step}: watch streams differ ({where}), stream {i}:\n"
                          f"{difference}\nreplay: DIFF_SEEDS={self.seed} DIFF_STEPS={self.step + 1}")
            time.sleep(0.01)

    def compare_notifications(self, final_revision, live, notify):
        """With the store idle, every live watcher that asked for progress notifications hears one
        carrying the final revision within two intervals, and no other watcher ever hears one."""
        time.sleep(2.5 * PROGRESS_NOTIFY_INTERVAL_S)
        for i, pair in enumerate(self.pairs):
            heard = []
            for s in pair:
                notes = s.notifications()
                heard.append(({w for w, revs in notes.items() if w in live[i] and final_revision in revs},
                              {w for w in notes if w not in notify[i]}))
            if heard[0] != heard[1]:
                self.fail(f"seed {self.seed}: stream {i}: progress notifications differ (watchers that "
                          f"heard the final revision {final_revision}, watchers that never asked):\n"
                          f"   etcd:    {heard[0]}\n   subject: {heard[1]}")

    def test_watch_protocol_answers_as_etcd(self):
        for_each_seed(self, self.run_seed, 400)


if __name__ == "__main__":
    harness.main_or_skip()
