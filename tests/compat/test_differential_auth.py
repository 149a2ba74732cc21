#!/usr/bin/python3
"""Differential test of auth administration: the same seeded random stream of Auth RPCs, mixed
with KV and lease requests made as various callers, goes to etcd 3.4 and to the subject one
request at a time, and every answer must be the same (as in test_differential.py: each response
field by field with header identities masked, or the same gRPC code and message).

The stream works over a few user and role names ("root" among them, the empty name, names with
odd bytes) and a few key ranges, so that requests collide: users and roles added twice, deleted
while held or logged in, roles granted to unknown users or twice, permissions granted over every
kind of range (single key, prefix, from-key, empty key, range_end <= key), granted again with
another type, revoked exactly or not; auth enabled without a root user or without the root role,
disabled and enabled again; Authenticate with the right and wrong passwords, as an unknown user
or a user without a password. Each call is made as one caller: nobody, a malformed token, or a
user's last token (which may be stale: its user deleted, its password changed, its roles revoked,
auth disabled since). So both admin checks and the KV checks that follow grants and revocations
are compared. Now and then the caller makes a Status, a Defragment or opens a Watch instead, with
the same kinds of tokens: only the outcome of Status is compared (each server reports its own
sizes), and of a Watch the first answer (created, canceled, cancel reason) or the stream's error.

What is masked (besides header identities): the text of a token (each server issues its own;
only whether Authenticate succeeded is compared). Lists are compared in the order sent: etcd
lists users, roles and a user's roles sorted by name, and a role's permissions sorted by key
(ties in the order granted: Go sorts a slice that short stably). That holds only below 13
permissions per role, so the stream keeps every role under that (see PermissionModel).

Kept out of the stream (deliberate differences, README "Authentication"): a permission granted
again while another range end of its key comes first (PermissionModel), and names that are not
UTF-8 (names here are). Also kept out: a RoleGrantPermission without a permission, which
crashes etcd 3.4.

Fixed seeds run by default; DIFF_SEEDS=1,2,3 / DIFF_SEEDS=random and DIFF_STEPS (requests per
seed) as in test_differential.py. The first difference fails the test with the request, both
answers and the seed.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_differential import CALL_TIMEOUT_S, RequestStream, for_each_seed, mask, show, token_metadata  # noqa: E402
from test_differential import call as kv_call  # noqa: E402
import etcd3.etcdrpc as rpc  # noqa: E402
import grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402

# Names are bytes: python3-etcd3's generated messages refuse strings that are not UTF-8, so the
# requests are encoded here (the wire format is the same).
USER_NAMES = [b"root", b"root", b"alice", b"bob", b"carol", b"", b"\x00u", "\u00e9 x/".encode()]
ROLE_NAMES = [b"root", b"root", b"rw", b"ro", b"other", b"", b"\x00r"]
PASSWORDS = [b"pw1", b"pw2", b""]
PERM_KEYS = [b"a", b"a", b"a/", b"b", b"c", b"", b"\x00z", b"zz", b"d\xff"]
PERM_ENDS = [b"", b"", b"\0", b"a0", b"b0", b"a/3", b"c", b"zz", b"\xff", b"a"]
BAD_TOKEN = "not-a-token"   # no '.': etcd rejects it at once (a numeric suffix would make it wait)
# etcd sorts a role's permissions with Go's sort.Sort, stable only below 13 elements.
MAX_PERMS_PER_ROLE = 12


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(*fields):
    """A protobuf message from (field number, value): bytes are length-delimited (empty ones
    left out, as proto3 does), ints are varints (zero left out)."""
    out = b""
    for number, value in fields:
        if isinstance(value, bytes):
            if value:
                out += varint(number << 3 | 2) + varint(len(value)) + value
        elif value:
            out += varint(number << 3) + varint(value)
    return out


# method -> response type; every request is sent as bytes.
RESPONSES = {
    "AuthEnable": rpc.AuthEnableResponse,
    "AuthDisable": rpc.AuthDisableResponse,
    "Authenticate": rpc.AuthenticateResponse,
    "UserAdd": rpc.AuthUserAddResponse,
    "UserGet": rpc.AuthUserGetResponse,
    "UserList": rpc.AuthUserListResponse,
    "UserDelete": rpc.AuthUserDeleteResponse,
    "UserChangePassword": rpc.AuthUserChangePasswordResponse,
    "UserGrantRole": rpc.AuthUserGrantRoleResponse,
    "UserRevokeRole": rpc.AuthUserRevokeRoleResponse,
    "RoleAdd": rpc.AuthRoleAddResponse,
    "RoleGet": rpc.AuthRoleGetResponse,
    "RoleList": rpc.AuthRoleListResponse,
    "RoleDelete": rpc.AuthRoleDeleteResponse,
    "RoleGrantPermission": rpc.AuthRoleGrantPermissionResponse,
    "RoleRevokePermission": rpc.AuthRoleRevokePermissionResponse,
}


class AuthCall:
    """One Auth RPC: method, the encoded request, a readable form, and the fields the model needs."""

    def __init__(self, method, text, body, **fields):
        self.method = method
        self.text = text
        self.body = body
        self.fields = fields


class RawAuth:
    """The Auth service on one channel, requests passed as encoded bytes."""

    def __init__(self, channel):
        self._methods = {
            method: channel.unary_unary(f"/etcdserverpb.Auth/{method}",
                                        request_serializer=lambda body: body,
                                        response_deserializer=response.FromString)
            for method, response in RESPONSES.items()}

    def call(self, method, body, token):
        """(answer, token issued or None); the answer as test_differential.call's, the token's
        text masked."""
        metadata = token_metadata(token)
        try:
            response = self._methods[method](body, timeout=CALL_TIMEOUT_S, metadata=metadata)
        except grpc.RpcError as e:
            return ("error", e.code().name, e.details()), None
        issued = getattr(response, "token", None) if method == "Authenticate" else None
        response = mask(response)
        if issued:
            response.token = "<token>"
        return ("ok", response), issued


class PermissionModel:
    """Each role's permissions in etcd's order, followed from the answers (both servers answered
    the same), to keep roles under MAX_PERMS_PER_ROLE and to keep one etcd quirk out of the
    stream: etcd 3.4 looks for a permission granted again only at the first permission with the
    same key, so granting (key, end) again when another end of that key comes first adds a second
    entry (a regrant meant to narrow read-write to read leaves read-write in force). Cairn
    replaces the type of the matching entry (README, Authentication)."""

    def __init__(self):
        self.roles = {}   # role -> [(key, end)], sorted by key, ties in the order granted

    def etcd_quirk(self, role, key, end):
        perms = self.roles.get(role, [])
        same_key = [p for p in perms if p[0] == key]
        return (key, end) in same_key and same_key[0] != (key, end)

    def granted(self, role, key, end):
        perms = self.roles.setdefault(role, [])
        if (key, end) in perms:
            return   # its type replaced
        pos = len([p for p in perms if p[0] <= key])
        perms.insert(pos, (key, end))

    def revoked(self, role, key, end):
        self.roles[role] = [p for p in self.roles.get(role, []) if p != (key, end)]

    def too_many(self, role):
        return len(self.roles.get(role, ())) >= MAX_PERMS_PER_ROLE


class AuthStream:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.passwords = {}          # user -> the password it was last given (etcd accepted)
        self.perms = PermissionModel()
        self.enabled = False         # as the last AuthEnable/AuthDisable that succeeded left it

    def name(self, names):
        return self.r.choice(names)

    def perm_range(self):
        r = self.r
        key = r.choice(PERM_KEYS)
        end = r.choice(PERM_ENDS)
        if r.random() < 0.15 and key:
            end = key + b"\0"          # exactly one key, spelled as a range
        return key, end

    def next(self):
        r = self.r
        choice = r.random()
        if choice < 0.12:
            name = self.name(USER_NAMES)
            password = r.choice(PASSWORDS)
            no_password = r.random() < 0.15
            options = encode((1, 1)) if no_password else b""
            body = encode((1, name), (2, password)) + (varint(3 << 3 | 2) + varint(len(options)) + options
                                                      if no_password or r.random() < 0.1 else b"")
            return AuthCall("UserAdd", f"name={name!r} password={password!r} no_password={no_password}",
                            body, name=name, password=password, no_password=no_password)
        if choice < 0.16:
            name = self.name(USER_NAMES)
            return AuthCall("UserDelete", f"name={name!r}", encode((1, name)), name=name)
        if choice < 0.20:
            name = self.name(USER_NAMES)
            return AuthCall("UserGet", f"name={name!r}", encode((1, name)))
        if choice < 0.22:
            return AuthCall("UserList", "", b"")
        if choice < 0.26:
            name = self.name(USER_NAMES)
            password = r.choice(PASSWORDS)
            return AuthCall("UserChangePassword", f"name={name!r} password={password!r}",
                            encode((1, name), (2, password)), name=name, password=password)
        if choice < 0.36:
            user, role = self.name(USER_NAMES), self.name(ROLE_NAMES)
            if not self.enabled and r.random() < 0.4:
                user, role = b"root", b"root"      # so that AuthEnable succeeds now and then
            return AuthCall("UserGrantRole", f"user={user!r} role={role!r}", encode((1, user), (2, role)))
        if choice < 0.40:
            user, role = self.name(USER_NAMES), self.name(ROLE_NAMES)
            return AuthCall("UserRevokeRole", f"name={user!r} role={role!r}", encode((1, user), (2, role)))
        if choice < 0.46:
            name = self.name(ROLE_NAMES)
            return AuthCall("RoleAdd", f"name={name!r}", encode((1, name)))
        if choice < 0.49:
            name = self.name(ROLE_NAMES)
            return AuthCall("RoleDelete", f"role={name!r}", encode((1, name)), role=name)
        if choice < 0.52:
            name = self.name(ROLE_NAMES)
            return AuthCall("RoleGet", f"role={name!r}", encode((1, name)))
        if choice < 0.54:
            return AuthCall("RoleList", "", b"")
        if choice < 0.64:
            role = self.name(ROLE_NAMES)
            key, end = self.perm_range()
            kind = r.choice([0, 1, 2])
            if self.perms.too_many(role) or self.perms.etcd_quirk(role, key, end):
                return AuthCall("RoleGet", f"role={role!r}", encode((1, role)))
            perm = encode((1, kind), (2, key), (3, end))
            # An absent perm is left to the servers too (etcd would read a nil message).
            body = encode((1, role)) + varint(2 << 3 | 2) + varint(len(perm)) + perm
            return AuthCall("RoleGrantPermission", f"name={role!r} perm={{type {kind} key {key!r} end {end!r}}}",
                            body, role=role, key=key, end=end)
        if choice < 0.69:
            role = self.name(ROLE_NAMES)
            key, end = self.perm_range()
            return AuthCall("RoleRevokePermission", f"role={role!r} key={key!r} range_end={end!r}",
                            encode((1, role), (2, key), (3, end)), role=role, key=key, end=end)
        if choice < 0.76:
            return AuthCall("AuthEnable", "", b"")
        if choice < 0.79:
            return AuthCall("AuthDisable", "", b"")
        name = self.name(USER_NAMES)
        known = self.passwords.get(name)
        password = known if known is not None and r.random() < 0.8 else r.choice(PASSWORDS)
        return AuthCall("Authenticate", f"name={name!r} password={password!r}",
                        encode((1, name), (2, password)), name=name)

    def applied(self, call):
        """Follows an auth change that succeeded (on both servers)."""
        f = call.fields
        if call.method == "UserAdd":
            self.passwords[f["name"]] = None if f["no_password"] else f["password"]
        elif call.method == "UserChangePassword":
            self.passwords[f["name"]] = f["password"]
        elif call.method == "UserDelete":
            self.passwords.pop(f["name"], None)
        elif call.method in ("AuthEnable", "AuthDisable"):
            self.enabled = call.method == "AuthEnable"
        elif call.method == "RoleDelete":
            self.perms.roles.pop(f["role"], None)
        elif call.method == "RoleGrantPermission":
            self.perms.granted(f["role"], f["key"], f["end"])
        elif call.method == "RoleRevokePermission":
            self.perms.revoked(f["role"], f["key"], f["end"])


def watch_once(channel, key, end, token):
    """Opens a Watch stream with the caller's token, asks for one watcher on [key, end) and returns
    ('ok', created, canceled, cancel reason) from the first answer, or ('error', code, details)
    when the stream itself fails. Headers and watch IDs are left out (both servers number from 0
    on a fresh stream, but the header's revision is the store's)."""
    stub = rpc.WatchStub(channel)
    request = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=key, range_end=end))
    metadata = token_metadata(token)
    stream = stub.Watch(iter([request]), timeout=CALL_TIMEOUT_S, metadata=metadata)
    try:
        for response in stream:
            return ("ok", response.created, response.canceled, response.cancel_reason)
        return ("ok", "stream ended without an answer")
    except grpc.RpcError as e:
        return ("error", e.code().name, e.details())
    finally:
        stream.cancel()


def other_call(channel, kind, token):
    """A call outside KV, lease and Auth, made with the caller's token: Status (only its outcome:
    each server reports its own sizes and indexes), Defragment (its answer is empty) or, for a
    (key, range end) kind, a Watch."""
    if isinstance(kind, tuple):
        return watch_once(channel, *kind, token)
    maintenance = rpc.MaintenanceStub(channel)
    metadata = token_metadata(token)
    try:
        if kind == "Status":
            maintenance.Status(rpc.StatusRequest(), timeout=CALL_TIMEOUT_S, metadata=metadata)
            return ("ok",)
        return ("ok", mask(maintenance.Defragment(rpc.DefragmentRequest(), timeout=CALL_TIMEOUT_S,
                                                  metadata=metadata)))
    except grpc.RpcError as e:
        return ("error", e.code().name, e.details())


class DifferentialAuthTest(harness.ServerPairTest):

    def run_seed(self, seed, steps):
        auth_stream = AuthStream(seed)
        kv_stream = RequestStream(seed + 1, nested=False)
        callers = random.Random(seed + 2)
        # user -> its last token on each server (a failed Authenticate keeps the old one).
        tokens = ({}, {})
        outcomes = {}   # (method, outcome) -> count: printed, to see what the stream reached
        with self.ref.channel() as rch, self.subj.channel() as sch:
            raw = (RawAuth(rch), RawAuth(sch))
            kv = ({"kv": rpc.KVStub(rch), "lease": rpc.LeaseStub(rch)},
                  {"kv": rpc.KVStub(sch), "lease": rpc.LeaseStub(sch)})
            for step in range(steps):
                caller = self.pick_caller(callers, tokens[0])
                side_tokens = [t.get(caller, BAD_TOKEN if caller == "bad" else None) for t in tokens]
                if callers.random() < 0.08:
                    # Stale, malformed and missing tokens on the calls outside KV, lease and Auth.
                    kind = callers.choice(["Status", "Defragment", (b"a", b""), (b"a", b"b"), (b"", b"\0")])
                    want, got = (other_call(ch, kind, t) for ch, t in zip((rch, sch), side_tokens))
                    key = (str(kind), repr(want))
                    outcomes[key] = outcomes.get(key, 0) + 1
                    if want != got:
                        self.fail(f"seed {seed}, step {step}: {kind} as {caller!r}\n"
                                  f"   etcd:    {want!r}\n   {self.subj.kind}: {got!r}\n"
                                  f"replay: DIFF_SEEDS={seed} DIFF_STEPS={step + 1}")
                    continue
                if callers.random() < 0.6:
                    call = auth_stream.next()
                    if call.method == "Authenticate" and callers.random() < 0.5:
                        side_tokens = [None, None]   # a fresh login (with a stale token it is refused)
                    (want, ref_token), (got, subj_token) = (r.call(call.method, call.body, t)
                                                            for r, t in zip(raw, side_tokens))
                    description = f"{call.method} {call.text}"
                else:
                    call = None
                    service, method, request = kv_stream.next()
                    want, got = (kv_call(k, service, method, request, t) for k, t in zip(kv, side_tokens))
                    description = f"{method} {text_format.MessageToString(request, as_one_line=True)}"
                outcome = "ok" if want[0] == "ok" else want[2]
                key = (call.method if call else method, outcome)
                outcomes[key] = outcomes.get(key, 0) + 1
                if want != got:
                    self.fail(f"seed {seed}, step {step}: {description} as {caller!r}\n"
                              f"   etcd:    {show(want)}\n   {self.subj.kind}: {show(got)}\n"
                              f"replay: DIFF_SEEDS={seed} DIFF_STEPS={step + 1}")
                if not self.subj.running():
                    self.fail(f"seed {seed}, step {step}: subject died\n{self.subj.log_tail()}")
                if want[0] != "ok":
                    continue
                if call is None:
                    if want[1].HasField("header") and want[1].header.revision:
                        kv_stream.revision = want[1].header.revision
                    if method == "Compact":
                        kv_stream.compacted = request.revision
                    continue
                auth_stream.applied(call)
                if call.method == "Authenticate":
                    tokens[0][call.fields["name"]] = ref_token
                    tokens[1][call.fields["name"]] = subj_token
        if os.environ.get("DIFF_VERBOSE"):
            for (method, outcome), count in sorted(outcomes.items()):
                print(f"seed {seed}: {count:4} {method}: {outcome}", file=sys.stderr)

    @staticmethod
    def pick_caller(r, held):
        """None (no credentials), "bad" (a malformed token) or a user name whose last token is
        sent."""
        choice = r.random()
        if choice < 0.1:
            return None
        if choice < 0.14:
            return "bad"
        if not held:
            return None
        if choice < 0.45 and b"root" in held:
            return b"root"
        return r.choice(sorted(held))

    def test_auth_administration_answers_as_etcd(self):
        for_each_seed(self, self.run_seed, 600)


if __name__ == "__main__":
    harness.main_or_skip()
