#!/usr/bin/python3
"""Differential test of the v3 JSON gateway: test_differential.py's seeded random stream of KV
and lease requests, written as the gateway's JSON and POSTed over HTTP/1.1 to etcd 3.4's and the
subject's client URL, one request at a time. Each answer must match: the HTTP status and the
parsed JSON body (header identities masked), exactly as etcd emits it, omitted fields included;
errors are grpc-gateway's {"error", "message", "code"}, all three compared.

The JSON of each request is varied the ways etcd's gateway (jsonpb) accepts: proto or lowerCamel
field names, 64-bit integers as strings or numbers, enums as names or numbers, unknown fields,
explicit nulls, the /v3beta/ prefix and the /v3/kv/lease/ aliases. The variations come from their
own random generator, so the request stream itself is test_differential.py's.

Then what only the gateway has: bodies that are not a request (malformed or trailing JSON, wrong
types, empty, null, arrays), other methods than POST, unknown paths, watches created over HTTP
(events as newline-delimited JSON objects), and the permission stream with the token in the
Authorization header.

Fixed seeds by default; DIFF_SEEDS and DIFF_STEPS as in test_differential.py (default 1 seed,
400 steps per mode, so that a run stays well under a minute).
"""

import base64
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_differential import (ROLES, USERS, RequestStream, default_seeds)  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402
from etcd3.etcdrpc import auth_pb2  # noqa: E402
from google.protobuf import descriptor  # noqa: E402
from google.protobuf import json_format  # noqa: E402

HTTP_TIMEOUT_S = 10
DEFAULT_STEPS = 400

# The gateway's path for each call of the stream; a call with two paths (etcd registers the lease
# calls under /v3/lease/ and /v3/kv/lease/) takes either.
PATHS = {
    "Put": ["/v3/kv/put"],
    "Range": ["/v3/kv/range"],
    "DeleteRange": ["/v3/kv/deleterange"],
    "Txn": ["/v3/kv/txn"],
    "Compact": ["/v3/kv/compaction"],
    "LeaseGrant": ["/v3/lease/grant"],
    "LeaseRevoke": ["/v3/lease/revoke", "/v3/kv/lease/revoke"],
    "LeaseTimeToLive": ["/v3/lease/timetolive", "/v3/kv/lease/timetolive"],
    "LeaseLeases": ["/v3/lease/leases", "/v3/kv/lease/leases"],
}

_INT64_TYPES = (descriptor.FieldDescriptor.TYPE_INT64, descriptor.FieldDescriptor.TYPE_UINT64,
                descriptor.FieldDescriptor.TYPE_SINT64, descriptor.FieldDescriptor.TYPE_FIXED64,
                descriptor.FieldDescriptor.TYPE_SFIXED64)


def canonical_json(message):
    """The JSON a gateway client writes: json_format's (proto field names, bytes as base64,
    int64 as strings, enums as names, defaults left out)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def varied_json(message, r):
    """`message` as JSON, written one of the ways jsonpb reads it, chosen by `r`: each field by
    its proto or lowerCamel name, each 64-bit integer as a string or a number, each enum by name
    or number; now and then an unknown field or an explicit null for a field left out."""
    out = {}
    for field, value in message.ListFields():
        name = field.json_name if r.random() < 0.3 else field.name
        if field.label == field.LABEL_REPEATED:
            out[name] = [_varied_value(field, v, r) for v in value]
        else:
            out[name] = _varied_value(field, value, r)
    if r.random() < 0.05:
        out["no_such_field"] = r.choice([1, "x", None, {"a": [1]}, True])
    if r.random() < 0.05:
        # Not a oneof member: etcd sets the oneof to a null member, and which member wins when
        # two are given depends on Go's map order (README, HTTP on the client port).
        unset = [f for f in message.DESCRIPTOR.fields
                 if f.label != f.LABEL_REPEATED and f.name not in out and f.message_type is None
                 and f.containing_oneof is None]
        if unset:
            out[r.choice(unset).name] = None
    return out


def _varied_value(field, value, r):
    if field.message_type is not None:
        return varied_json(value, r)
    if field.type == field.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if field.type in _INT64_TYPES:
        return value if r.random() < 0.3 else str(value)
    if field.type == field.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return value if known is None or r.random() < 0.3 else known.name
    return value


def mask(body):
    """A comparable copy of a parsed answer: header identities replaced (where present: an
    omitted field must stay omitted), a lease's remaining TTL dropped (it counts down), lease
    lists and a lease's keys sorted (etcd lists a map)."""
    if isinstance(body, list):
        return [mask(v) for v in body]
    if not isinstance(body, dict):
        return body
    out = {}
    for k, v in body.items():
        if k == "header" and isinstance(v, dict):
            out[k] = {hk: ("<id>" if hk in ("cluster_id", "member_id", "raft_term") else hv)
                      for hk, hv in v.items()}
        else:
            out[k] = mask(v)
    return out


def mask_lease_answer(method, body):
    if not isinstance(body, dict) or "error" in body:
        return body
    body = dict(body)
    if method == "LeaseTimeToLive":
        body.pop("TTL", None)
        if "keys" in body:
            body["keys"] = sorted(body["keys"])
    if method == "LeaseLeases" and "leases" in body:
        body["leases"] = sorted(body["leases"], key=lambda lease: int(lease.get("ID", "0")))
    return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None   # a 301 is an answer to compare, not to follow


# No proxies from the environment: the servers are on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post(server, path, body, method="POST", headers=None):
    """One request: (status, content type, parsed JSON body, or its text if it is not JSON).
    `body` is sent as it is if it is str or bytes, else as JSON; None sends no body."""
    if body is None:
        data = None
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    request = urllib.request.Request(f"http://{server.endpoint}{path}", data=data, method=method,
                                     headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_S) as response:
            status, ctype, raw = response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as e:
        status, ctype, raw = e.code, e.headers.get("Content-Type", ""), e.read()
    try:
        return status, ctype.split(";")[0], json.loads(raw)
    except ValueError:
        pass
    try:   # a stream that ended: one JSON object per line
        return status, ctype.split(";")[0], [json.loads(line) for line in raw.splitlines() if line.strip()]
    except ValueError:
        return status, ctype.split(";")[0], raw.decode(errors="replace")


def show(answer):
    return json.dumps(answer)[:1500]


class WatchOverHttp:
    """One watch created over HTTP (POST /v3/watch with one create request as the whole body),
    read on a thread: everything received, flattened to ('created', watch_id), each event, and
    ('canceled', compact revision, reason). Headers are left out: a watch answer's header revision
    is the store's at send time, which timing decides. Events are flattened because the two
    servers may batch them differently."""

    def __init__(self, server, create_request):
        self.body = json.dumps({"create_request": create_request})
        self.sock = socket.create_connection(("127.0.0.1", server.client_port), timeout=HTTP_TIMEOUT_S)
        self.conn = http.client.HTTPConnection(server.endpoint, timeout=HTTP_TIMEOUT_S)
        self.conn.sock = self.sock   # kept, so that close() can end the reader's blocking read
        self.conn.request("POST", "/v3/watch", body=self.body.encode())
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.lines = []
        self.items = []
        self.cv = threading.Condition()
        self.ended = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                obj = json.loads(line)
                with self.cv:
                    self.lines.append(obj)
                    self.items.extend(self._flatten(obj))
                    self.cv.notify_all()
        except Exception:  # noqa: BLE001  closed under the reader (http.client then fails oddly)
            pass
        finally:
            with self.cv:
                self.ended = True
                self.cv.notify_all()

    @staticmethod
    def _flatten(obj):
        result = obj.get("result")
        if result is None:
            return [("stream-error", json.dumps(obj, sort_keys=True))]
        items = []
        if result.get("created"):
            items.append(("created", result.get("watch_id")))
        for event in result.get("events", []):
            items.append(("event", json.dumps(event, sort_keys=True)))
        if result.get("canceled") or result.get("compact_revision"):
            items.append(("canceled", result.get("canceled"), result.get("compact_revision"),
                          result.get("cancel_reason")))
        return items

    def wait_created(self, timeout=HTTP_TIMEOUT_S):
        with self.cv:
            return self.cv.wait_for(lambda: self.items or self.ended, timeout) and bool(self.items)

    def seen(self):
        with self.cv:
            return list(self.items)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.sock.close()
        self.reader.join(timeout=5)


class GatewayDifferentialTest(harness.ServerPairTest):

    def both(self, path, body, method="POST", headers=None):
        return [post(s, path, body, method, headers) for s in self.servers()]

    def assertSameAnswer(self, path, body, method="POST", headers=None, compare_text=True, what=""):
        """Same status, content type and body; with compare_text=False a JSON error's text is
        left out (see README: Go's JSON decoder words its errors its own way) but its code and
        error == message are checked on both."""
        want, got = self.both(path, body, method, headers)
        label = f"{method} {path} {body!r:.300} {what}"
        if not compare_text and isinstance(want[2], dict) and isinstance(got[2], dict):
            for side in (want, got):
                if "error" in side[2] and "message" in side[2]:
                    self.assertEqual(side[2]["error"], side[2]["message"], f"{label}: {side}")
                    side[2]["error"] = side[2]["message"] = "<text>"
        self.assertEqual((want[0], want[1], mask(want[2])), (got[0], got[1], mask(got[2])),
                         f"{label}\n   etcd:    {want}\n   {self.subj.kind}: {got}")
        self.assertTrue(self.subj.running(), self.subj.log_tail())
        return want, got

    # ---------------------------------------------------------------- the random stream

    def run_seed(self, seed, steps, watches=False, users=False):
        stream = RequestStream(seed, nested=not users)   # see test_differential.py: no nested txns with users
        shape = random.Random(seed * 7919 + 1)            # JSON variations, apart from the stream
        user_stream = random.Random(seed + 1)
        tokens = (self.set_up_auth(self.ref), self.set_up_auth(self.subj)) if users else ({}, {})
        watchers = []
        for step in range(steps):
            service, method, request = stream.next(watches)
            if service == "watch":
                pair = self.open_watch(seed, step, request)
                watchers.append((canonical_json(request), pair))
                continue
            if watches and method == "Compact":
                time.sleep(0.3)   # as test_differential.py: let etcd's 100 ms catch-up loop run first
            path = shape.choice(PATHS[method])
            if shape.random() < 0.2:
                path = "/v3beta/" + path[len("/v3/"):]
            body = varied_json(request, shape)
            user = user_stream.choice(sorted(USERS)) if users else None
            answers = []
            for server, server_tokens in zip(self.servers(), tokens):
                headers = {"Authorization": server_tokens[user]} if user else None
                status, ctype, parsed = post(server, path, body, headers=headers)
                answers.append((status, ctype, mask_lease_answer(method, mask(parsed))))
            want, got = answers
            if want != got:
                as_user = f" as {user}" if user else ""
                self.fail(f"seed {seed}, step {step}: POST {path}{as_user} {json.dumps(body)}\n"
                          f"   etcd:    {show(want)}\n   {self.subj.kind}: {show(got)}\n"
                          f"replay: DIFF_SEEDS={seed} DIFF_STEPS={step + 1}")
            if not self.subj.running():
                self.fail(f"seed {seed}, step {step}: subject died\n{self.subj.log_tail()}")
            if want[0] == 200 and isinstance(want[2], dict) and "revision" in want[2].get("header", {}):
                stream.revision = int(want[2]["header"]["revision"])
            if method == "Compact" and want[0] == 200:
                stream.compacted = request.revision
        if watchers:
            self.compare_watchers(seed, watchers)

    def open_watch(self, seed, step, request):
        pair = []
        for server in self.servers():
            watcher = WatchOverHttp(server, canonical_json(request))
            self.addCleanup(watcher.close)
            pair.append(watcher)
            if watcher.status != 200 or not watcher.wait_created():
                self.fail(f"seed {seed}, step {step}: {server.kind} did not answer watch create "
                          f"{watcher.body} (status {watcher.status}): {watcher.seen()}")
        return pair

    def compare_watchers(self, seed, watchers, settle_s=10):
        """Waits (bounded) until each pair of watchers has seen the same, then fails on the first
        difference that remains."""
        deadline = time.monotonic() + settle_s
        while True:
            difference = None
            for n, (create, (ref, subj)) in enumerate(watchers):
                want, got = ref.seen(), subj.seen()
                if want != got:
                    i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
                    difference = (f"watch {n} ({json.dumps(create)}): item {i} of {len(want)} (etcd) / "
                                  f"{len(got)} (subject)\n   etcd:    {want[i:i + 3]}\n   subject: {got[i:i + 3]}")
                    break
            if difference is None:
                return
            if time.monotonic() > deadline:
                self.fail(f"seed {seed}: HTTP watchers differ after the stream (replay: DIFF_SEEDS={seed}):\n"
                          f"{difference}")
            time.sleep(0.1)

    def set_up_auth(self, server):
        """USERS and ROLES of test_differential.py, made through the gateway; auth enabled; each
        user's token from /v3/auth/authenticate."""
        def must(path, message):
            status, _, body = post(server, path, canonical_json(message))
            self.assertEqual(status, 200, f"{server.kind}: {path} {canonical_json(message)}: {body}")
            return body
        for role, perms in ROLES.items():
            must("/v3/auth/role/add", rpc.AuthRoleAddRequest(name=role))
            for kind, key, end in perms:
                must("/v3/auth/role/grant", rpc.AuthRoleGrantPermissionRequest(
                    name=role, perm=auth_pb2.Permission(permType=kind, key=key, range_end=end)))
        for user, (password, roles) in USERS.items():
            must("/v3/auth/user/add", rpc.AuthUserAddRequest(name=user, password=password))
            for role in roles:
                must("/v3/auth/user/grant", rpc.AuthUserGrantRoleRequest(user=user, role=role))
        must("/v3/auth/enable", rpc.AuthEnableRequest())
        return {user: must("/v3/auth/authenticate", rpc.AuthenticateRequest(name=user, password=password))["token"]
                for user, (password, _) in USERS.items()}

    def run_seeds(self, **modes):
        steps = int(os.environ.get("DIFF_STEPS", str(DEFAULT_STEPS)))
        seeds = default_seeds() if "DIFF_SEEDS" in os.environ else [1]
        for n, seed in enumerate(seeds):
            if n > 0:
                for server in self.servers():
                    server.kill()
                self.setUp()
            with self.subTest(seed=seed):
                self.run_seed(seed, steps, **modes)

    def test_random_requests_answer_as_etcd(self):
        self.run_seeds()

    def test_permissions_answer_as_etcd(self):
        """The stream with auth on, each request as one of USERS with its token in the
        Authorization header."""
        self.run_seeds(users=True)

    def test_http_watchers_see_what_etcd_watchers_see(self):
        self.run_seeds(watches=True)


    # ---------------------------------------------------------------- what only the gateway has

    # (method, path, body, compare the error text too). Bodies are sent as written; every one is
    # answered alike, error texts included (False would leave a text out, status and code still
    # compared, for a difference the README lists).
    GATEWAY_ONLY_CASES = [
        # Bodies that are not one well-formed request object.
        ("POST", "/v3/kv/range", '{"key":"Zm9v"', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v",}', True),
        ("POST", "/v3/kv/range", "{'key':'Zm9v'}", True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v"} trailing words', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v"}{"key":"YmFy"}', True),
        ("POST", "/v3/kv/range", "null", True),
        ("POST", "/v3/kv/range", "", True),
        ("POST", "/v3/kv/range", None, True),
        ("POST", "/v3/kv/range", "{}", True),
        ("POST", "/v3/kv/range", "[]", True),
        ("POST", "/v3/kv/range", "123", True),
        ("POST", "/v3/kv/range", '"Zm9v"', True),
        # Unknown fields, either field name, nulls.
        ("POST", "/v3/kv/range", '{"key":"Zm9v","bogus":{"a":[1,null,"x"]},"PREV_KV":true}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","countOnly":true}', True),
        ("POST", "/v3/kv/range", '{"key":null,"range_end":null}', True),
        # A null oneof member alone (etcd sets the oneof to it, zero valued, which compares as
        # absent); with another member of its oneof etcd's answer depends on Go's map order.
        ("POST", "/v3/kv/txn", '{"compare":[{"target":"LEASE","key":"Zm9v","lease":null}],'
                               '"success":[{"request_range":{"key":"Zm9v"}}]}', True),
        # Values of the wrong type.
        ("POST", "/v3/kv/range", '{"key":123}', True),
        ("POST", "/v3/kv/range", '{"key":["Zm9v"]}', True),
        ("POST", "/v3/kv/range", '{"key":[102,111,111]}', True),
        ("POST", "/v3/kv/range", '{"key":[102,256]}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":12x}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":tru}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v\\q"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","x":[1 2]}', True),
        ("POST", "/v3/kv/range", '{"key" "Zm9v"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":-}', True),
        ("POST", "/v3/kv/range", '{"key":"!!!"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v-_"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v=="}', True),
        ("POST", "/v3/kv/range", '{"key":"Zg=\\r\\n="}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v\\u00e9"}', True),
        ("POST", "/v3/kv/range", '{"countOnly":false,"key":"Zm9v","count_only":true}', True),
        ("POST", "/v3/kv/range", '{"ke\\u0079":"Zm9v"}', True),
        ("POST", "/v3/kv/range", 'tru', True),
        ("POST", "/v3/kv/range", '"x', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","sort_order":true}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","sort_order":1.0}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":"012"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":""}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v\\n"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":"abc"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":1.5}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":" 1"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","limit":true}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","keys_only":"true"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","keys_only":1}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","sort_order":"BOGUS"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","sort_order":"DESCEND","sort_target":"KEY"}', True),
        ("POST", "/v3/kv/range", '{"key":"Zm9v","sort_order":7}', True),
        ("POST", "/v3/kv/put", '{"key":"Zm9v","value":"YmFy","lease":"1e3"}', True),
        ("POST", "/v3/kv/put", '{"key":"Zm9v","value":"YmFy","lease":1.0}', True),
        ("POST", "/v3/kv/put", '{"key":"Zm9v","value":"YmFy","lease":99999999999999999999}', True),
        ("POST", "/v3/kv/put", '{"key":"Zm9v","value":"YmFy","lease":" 12"}', True),
        ("POST", "/v3/kv/txn", '{"compare":{"key":"Zm9v"}}', True),
        ("POST", "/v3/kv/txn", '{"success":[{"request_put":"x"}]}', True),
        ("POST", "/v3/lease/grant", '{"TTL":60.0}', True),
        ("POST", "/v3/auth/role/grant", '{"name":"r","perm":{"permType":"BOGUS"}}', True),
        # Methods other than POST, paths that are no route, both prefixes.
        ("GET", "/v3/kv/range", None, True),
        ("PUT", "/v3/kv/range", "{}", True),
        ("DELETE", "/v3/kv/range", None, True),
        ("GET", "/v3/watch", None, True),
        ("GET", "/v3/nothing", None, True),
        ("POST", "/v3/kv/range/", "{}", True),
        ("POST", "/v3/nothing", "{}", True),
        ("POST", "/v3beta/nothing", "{}", True),
        ("POST", "/v3/", "{}", True),
        ("POST", "/v3beta", "{}", True),
        ("POST", "/v3alpha/kv/range", '{"key":"Zm9v"}', True),
        ("POST", "/V3/kv/range", '{"key":"Zm9v"}', True),
        ("POST", "/nothing", "{}", True),
        ("POST", "/v3/maintenance/hashkv", "{}", True),   # shadowed by /v3/maintenance/hash in etcd 3.4
        ("POST", "/v3/kv/range?x=1", '{"key":"Zm9v"}', True),
        ("POST", "/v3beta/kv/range", '{"key":"Zm9v"}', True),
        ("POST", "/v3beta/kv/lease/leases", "{}", True),
        # Streams refusing their first request before they start (500, code 2).
        ("POST", "/v3/watch", '{"create_request":{"key":"Zm9v"}', True),
        ("POST", "/v3/watch", "[]", True),
        ("POST", "/v3/watch", '{"create_request":{"key":123}}', True),
        ("POST", "/v3/watch", '{"create_request":{"key":"Zm9v","filters":["NOPUT","BOGUS"]}}', True),
        ("POST", "/v3/maintenance/snapshot", '{"x":1', True),
    ]

    def test_what_only_the_gateway_has(self):
        for server in self.servers():
            post(server, "/v3/kv/put", {"key": "Zm9v", "value": "YmFy"})
        for method, path, body, compare_text in self.GATEWAY_ONLY_CASES:
            with self.subTest(method=method, path=path, body=body):
                self.assertSameAnswer(path, body, method, compare_text=compare_text)

    def test_alarms(self):
        """Alarm answers carry no header in etcd 3.4 (its apply's bare response), for every action;
        a NOSPACE alarm refuses a put."""
        for body in ('{}', '{"action":"GET","alarm":"NOSPACE"}',
                     '{"action":"ACTIVATE","memberID":"5","alarm":"NOSPACE"}', '{"action":"GET"}'):
            self.assertSameAnswer("/v3/maintenance/alarm", body)
        self.assertSameAnswer("/v3/kv/put", '{"key":"Zm9v","value":"YmFy"}', what="with NOSPACE")
        for body in ('{"action":"DEACTIVATE","memberID":"5","alarm":"NOSPACE"}', '{"action":"GET"}'):
            self.assertSameAnswer("/v3/maintenance/alarm", body)

    def test_keep_alive_streams_end_with_their_body(self):
        """grpc-gateway half-closes a stream at the end of the request body; etcd's keep-alive
        stream then ends after its answers (one JSON object per line)."""
        self.assertSameAnswer("/v3/lease/grant", '{"ID":"7","TTL":"600"}')
        for body in ("{}", "null", '{"ID":"0"}{"ID":"7"}', '{"ID":"7"}\n{"ID":"8"}\n', '{"ID":"7"} {"ID":'):
            want, got = self.both("/v3/lease/keepalive", body)
            # The TTL left can differ by a second between the servers' answers.
            strip = lambda answer: (answer[0], answer[1], [mask({**o, "result": {k: v for k, v in o.get("result", {}).items() if k != "TTL"}})
                                                            if isinstance(o, dict) else o for o in answer[2]]
                                    if isinstance(answer[2], list) else mask(answer[2]))
            self.assertEqual(strip(want), strip(got), f"keep-alive {body!r}\n   etcd:    {want}\n   {self.subj.kind}: {got}")

    def test_auth_header(self):
        """Tokens in the Authorization header: none, a bad one, an empty one, a good one. (Not
        "Bearer <token>": etcd 3.4 refuses it as an invalid token, Cairn's auth takes it, on gRPC
        as on the gateway; see README, Authentication.)"""
        tokens = [self.set_up_auth(server) for server in self.servers()]
        body = {"key": base64.b64encode(b"a").decode()}
        self.assertSameAnswer("/v3/kv/range", body, what="no token")
        self.assertSameAnswer("/v3/kv/range", body, headers={"Authorization": "garbage"}, what="bad token")
        self.assertSameAnswer("/v3/kv/range", body, headers={"Authorization": ""}, what="empty token")
        for user in ("root", "alice", "dave"):
            answers = []
            for server, server_tokens in zip(self.servers(), tokens):
                for path in ("/v3/kv/range", "/v3beta/kv/put"):
                    status, ctype, parsed = post(server, path, body, headers={"Authorization": server_tokens[user]})
                    answers.append((status, ctype, mask(parsed)))
            self.assertEqual(answers[:2], answers[2:], f"as {user}: etcd {answers[:2]}, {self.subj.kind} {answers[2:]}")


if __name__ == "__main__":
    harness.main_or_skip()
