"""Auth, etcd 3.4 vs cairnd: the same etcdctl script against both servers, byte
for byte (users, roles, permissions, enable/disable, a limited user's reads and
writes, every error text), plus checks python3-etcd3 and raw gRPC make.

Run with Debian's /usr/bin/python3; CAIRND=<path> selects the binary.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))

import etcd3  # noqa: E402
import etcd3.etcdrpc as etcdrpc  # noqa: E402
import grpc  # noqa: E402

from harness import ServerPairTest, Step, etcdctl, grpc_error, main_or_skip  # noqa: E402

ROOT = ("--user", "root:rootpw")
ALICE = ("--user", "alice:alicepw")


def setup_steps():
    """Users and roles, made while auth is off."""
    return [
        Step("auth", "enable"),                      # no root user
        Step("user", "add", "root:rootpw"),
        Step("role", "add", "root"),
        Step("user", "add", "alice:alicepw"),
        Step("user", "add", "alice:again"),          # exists
        Step("user", "add", "bob", "--no-password"),
        Step("role", "add", "limited"),
        Step("role", "add", "limited"),              # exists
        Step("role", "grant-permission", "limited", "readwrite", "app/", "--prefix"),
        Step("role", "grant-permission", "limited", "read", "shared"),
        Step("role", "grant-permission", "limited", "write", "logs/a", "logs/m"),
        Step("role", "grant-permission", "limited", "read", "zz", "--from-key"),
        Step("role", "grant-permission", "nosuch", "read", "x"),
        Step("user", "grant-role", "alice", "limited"),
        Step("user", "grant-role", "alice", "limited"),   # again: no change, no error
        Step("user", "grant-role", "alice", "nosuch"),
        Step("user", "grant-role", "nobody", "limited"),
        Step("user", "revoke-role", "alice", "root"),     # never granted
        Step("user", "get", "alice"),
        Step("user", "get", "nobody"),
        Step("role", "get", "limited"),
        Step("role", "get", "nosuch"),
        Step("user", "list"),
        Step("role", "list"),
        Step("role", "revoke-permission", "limited", "nothere"),
        # root lacks the root role: etcdctl grants it and retries (its warning line carries a
        # timestamp, so only the outcome is compared).
        Step("auth", "enable", compare_stderr=False),
        Step("user", "grant-role", "root", "root"),
        Step("put", "app/one", "1"),
        Step("put", "shared", "s"),
        Step("put", "secret", "x"),
    ]


def enabled_steps():
    return [
        Step("auth", "enable"),
        Step("auth", "enable"),                      # no credentials any more
        Step("get", "app/one"),                      # user name is empty
        Step("put", "app/one", "2"),
        Step(*ALICE, "get", "app/one"),
        Step(*ALICE, "put", "app/two", "2"),
        Step(*ALICE, "get", "app/", "--prefix"),
        Step(*ALICE, "get", "shared"),
        Step(*ALICE, "put", "shared", "no"),         # read only
        Step(*ALICE, "get", "secret"),
        Step(*ALICE, "put", "secret", "no"),
        Step(*ALICE, "get", "", "--prefix"),         # wider than granted
        Step(*ALICE, "put", "logs/b", "w"),          # write only range
        Step(*ALICE, "get", "logs/b"),
        Step(*ALICE, "put", "logs/z", "w"),          # past the range end
        Step(*ALICE, "get", "zzz"),                  # from-key read
        Step(*ALICE, "get", "zz", "--from-key"),
        Step(*ALICE, "del", "app/two"),
        Step(*ALICE, "del", "secret"),
        Step(*ALICE, "put", "app/p", "v", "--prev-kv"),
        Step(*ALICE, "txn", stdin='value("app/one") = "1"\n\nput app/t yes\n\nput app/t no\n\n'),
        Step(*ALICE, "txn", stdin='value("secret") = "x"\n\nput app/t yes\n\n\n'),
        Step(*ALICE, "txn", stdin='\nput secret y\n\n\n'),
        Step(*ALICE, "user", "list"),                # not root
        Step(*ALICE, "user", "get", "alice"),        # itself: allowed
        Step(*ALICE, "user", "get", "root"),
        Step(*ALICE, "role", "get", "limited"),      # a role it holds
        Step(*ALICE, "role", "get", "root"),
        Step(*ALICE, "role", "list"),
        Step(*ALICE, "user", "add", "mallory:pw"),
        Step(*ALICE, "auth", "disable"),
        Step(*ALICE, "endpoint", "hashkv"),          # root only (etcd: code Unknown, "auth: ...")
        Step(*ALICE, "defrag"),
        Step("defrag"),
        Step(*ALICE, "member", "add", "x", "--peer-urls", "http://127.0.0.1:1"),
        Step(*ALICE, "alarm", "list"),               # anyone
        Step(*ALICE, "compact", "2"),                # anyone, in etcd 3.4
        Step("--user", "alice:wrong", "get", "app/one"),
        Step("--user", "nobody:pw", "get", "app/one"),
        Step("--user", "bob:any", "get", "app/one"),     # no-password user
        Step(*ROOT, "get", "", "--prefix"),
        Step(*ROOT, "put", "secret", "y"),
        Step(*ROOT, "user", "list"),
        Step(*ROOT, "user", "delete", "root"),       # not while enabled
        Step(*ROOT, "role", "delete", "root"),
        Step(*ROOT, "user", "revoke-role", "root", "root"),
        Step(*ROOT, "user", "get", "alice"),
        Step(*ROOT, "role", "revoke-permission", "limited", "shared"),
        Step(*ALICE, "get", "shared"),               # revoked
        Step(*ROOT, "role", "revoke-permission", "limited", "shared"),
        Step(*ROOT, "user", "passwd", "alice", "--interactive=false", stdin="newpw\n"),
        Step(*ALICE, "get", "app/one"),              # old password
        Step("--user", "alice:newpw", "get", "app/one"),
        Step(*ROOT, "user", "revoke-role", "alice", "limited"),
        Step("--user", "alice:newpw", "get", "app/one"),
        Step(*ROOT, "role", "delete", "limited"),
        Step(*ROOT, "user", "delete", "alice"),
        Step(*ROOT, "user", "delete", "alice"),
        Step(*ROOT, "role", "list"),
        Step(*ROOT, "user", "list"),
        Step(*ROOT, "auth", "disable"),
        Step("get", "secret"),
        Step("auth", "disable"),
        Step("user", "list"),
    ]


def auth_status(channel):
    """(enabled, authRevision) from AuthStatus, which python3-etcd3's 3.4 stubs lack."""
    call = channel.unary_unary("/etcdserverpb.Auth/AuthStatus", request_serializer=lambda _: b"",
                               response_deserializer=lambda raw: raw)
    raw = call(None, timeout=5)
    fields, pos = {}, 0
    while pos < len(raw):
        tag = raw[pos]
        pos += 1
        if tag & 7 == 2:  # the header: skip it
            length = raw[pos]
            pos += 1 + length
            continue
        value, shift = 0, 0
        while True:
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        fields[tag >> 3] = value
    return bool(fields.get(2, 0)), fields.get(3, 0)


def maintenance_defrag(channel, token):
    etcdrpc.MaintenanceStub(channel).Defragment(etcdrpc.DefragmentRequest(), metadata=[("token", token)],
                                                timeout=5)


class AuthCompareTest(ServerPairTest):
    def test_etcdctl_script(self):
        self.compare(setup_steps() + enabled_steps())

    def test_python_client_and_grpc(self):
        """python3-etcd3 with user=/password= and raw gRPC metadata, on both servers."""
        outcomes = {}
        for server in self.servers():
            self.assertEqual(etcdctl(server, "user", "add", "root:rootpw").rc, 0)
            etcdctl(server, "role", "add", "root")
            etcdctl(server, "user", "grant-role", "root", "root")
            etcdctl(server, "user", "add", "carol:cpw")
            etcdctl(server, "role", "add", "c")
            etcdctl(server, "role", "grant-permission", "c", "readwrite", "c/", "--prefix")
            etcdctl(server, "user", "grant-role", "carol", "c")
            self.assertEqual(etcdctl(server, "auth", "enable").rc, 0)
            seen = []
            host, port = server.endpoint.split(":")
            # python3-etcd3's user=/password= become gRPC call credentials, which gRPC refuses
            # to send over a plaintext channel (with etcd as well): check that it fails alike.
            try:
                etcd3.client(host=host, port=int(port), user="carol", password="cpw", timeout=10).get("c/k")
                seen.append("call credentials sent in plaintext")
            except Exception as e:
                seen.append(type(e).__name__)
            # Raw gRPC: a garbage token, no token, and a refused watch.
            channel = grpc.insecure_channel(server.endpoint)
            kv = etcdrpc.KVStub(channel)
            seen.append(grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"c/k"),
                                                    metadata=[("token", "garbage")], timeout=5)))
            seen.append(grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"c/k"), timeout=5)))
            auth = etcdrpc.AuthStub(channel)
            token = auth.Authenticate(etcdrpc.AuthenticateRequest(name="carol", password="cpw"), timeout=5).token
            seen.append(grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"c/k", value=b"v"),
                                                  metadata=[("token", token)], timeout=5)))
            seen.append(list(kv.Range(etcdrpc.RangeRequest(key=b"c/k"), metadata=[("token", token)],
                                      timeout=5).kvs[0].value for _ in [0]))
            seen.append(grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"other", value=b"v"),
                                                  metadata=[("token", token)], timeout=5)))
            seen.append(grpc_error(lambda: auth.Authenticate(
                etcdrpc.AuthenticateRequest(name="carol", password="bad"), timeout=5)))
            watch = etcdrpc.WatchStub(channel)
            requests = iter([etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"secret"))])
            stream = watch.Watch(requests, metadata=[("token", token)], timeout=5)
            first = next(stream)
            seen.append((first.created, first.canceled, first.watch_id, first.cancel_reason))
            stream.cancel()
            no_token = watch.Watch(iter([etcdrpc.WatchRequest(
                create_request=etcdrpc.WatchCreateRequest(key=b"c/k"))]), timeout=5)
            first = next(no_token)
            seen.append((first.created, first.canceled, first.watch_id, first.cancel_reason))
            no_token.cancel()
            allowed = watch.Watch(iter([etcdrpc.WatchRequest(
                create_request=etcdrpc.WatchCreateRequest(key=b"c/", range_end=b"c0"))]),
                metadata=[("token", token)], timeout=5)
            first = next(allowed)
            seen.append((first.created, first.canceled, first.cancel_reason))
            allowed.cancel()
            # Leases: a grant needs no permission; revoking a lease with a key carol may not
            # write is refused; with keys she may write it works.
            lease = etcdrpc.LeaseStub(channel)
            granted = lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), metadata=[("token", token)], timeout=5)
            root_token = auth.Authenticate(etcdrpc.AuthenticateRequest(name="root", password="rootpw"),
                                           timeout=5).token
            kv.Put(etcdrpc.PutRequest(key=b"root-only", value=b"v", lease=granted.ID),
                   metadata=[("token", root_token)], timeout=5)
            seen.append(grpc_error(lambda: lease.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=granted.ID),
                                                             metadata=[("token", token)], timeout=5)))
            seen.append(grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"c/x", value=b"v", lease=granted.ID),
                                                  metadata=[("token", token)], timeout=5)))
            mine = lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), metadata=[("token", token)], timeout=5)
            kv.Put(etcdrpc.PutRequest(key=b"c/leased", value=b"v", lease=mine.ID),
                   metadata=[("token", token)], timeout=5)
            seen.append(grpc_error(lambda: lease.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=mine.ID),
                                                             metadata=[("token", token)], timeout=5)))
            # Root may do what carol may not; a deleted user's token stops working.
            seen.append(grpc_error(lambda: maintenance_defrag(channel, root_token)))
            seen.append(grpc_error(lambda: auth.UserDelete(etcdrpc.AuthUserDeleteRequest(name="carol"),
                                                           metadata=[("token", root_token)], timeout=5)))
            seen.append(grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"c/k"),
                                                    metadata=[("token", token)], timeout=5)))
            if server.kind != "etcd":  # AuthStatus is newer than etcd 3.4
                enabled, revision = auth_status(channel)
                self.assertTrue(enabled)
                self.assertGreater(revision, 0)
            maintenance = etcdrpc.MaintenanceStub(channel)
            seen.append(grpc_error(lambda: maintenance.Defragment(etcdrpc.DefragmentRequest(),
                                                                  metadata=[("token", token)], timeout=5)))
            seen.append(grpc_error(lambda: auth.UserDelete(etcdrpc.AuthUserDeleteRequest(name="carol"),
                                                           metadata=[("token", token)], timeout=5)))
            channel.close()
            outcomes[server.kind] = seen
        self.assertEqual(outcomes["etcd"], outcomes[self.subj.kind],
                         f"etcd: {outcomes['etcd']}\nsubject: {outcomes[self.subj.kind]}")

    def test_tokens_while_disabled_and_order_of_checks(self):
        """Found by tests/compat/test_differential_auth.py: etcd 3.4 refuses any call that sends a
        token while auth is disabled (it holds none then), refuses Authenticate with the right
        password when the call sends a stale token, and checks a user add's caller before its
        name."""
        invalid = ("UNAUTHENTICATED", "etcdserver: invalid auth token")
        want = [invalid, invalid, invalid,                                          # auth off
                ("PERMISSION_DENIED", "etcdserver: permission denied"),
                ("INVALID_ARGUMENT", "etcdserver: user name is empty"),
                invalid,
                ("INVALID_ARGUMENT", "etcdserver: authentication failed, invalid user ID or password"),
                invalid,                                                            # old password's token
                invalid, invalid, invalid, None]                                    # disabled again
        outcomes = {}
        for server in self.servers():
            channel = grpc.insecure_channel(server.endpoint)
            kv, auth = etcdrpc.KVStub(channel), etcdrpc.AuthStub(channel)
            garbage = [("token", "garbage")]
            seen = [grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"k"), metadata=garbage, timeout=5)),
                    grpc_error(lambda: auth.UserList(etcdrpc.AuthUserListRequest(), metadata=garbage, timeout=5)),
                    grpc_error(lambda: auth.AuthEnable(etcdrpc.AuthEnableRequest(), metadata=garbage, timeout=5))]
            auth.UserAdd(etcdrpc.AuthUserAddRequest(name="root", password="rootpw"), timeout=5)
            auth.UserGrantRole(etcdrpc.AuthUserGrantRoleRequest(user="root", role="root"), timeout=5)
            auth.UserAdd(etcdrpc.AuthUserAddRequest(name="carol", password="cpw"), timeout=5)
            auth.AuthEnable(etcdrpc.AuthEnableRequest(), timeout=5)

            def login(name, password, metadata=None):
                return auth.Authenticate(etcdrpc.AuthenticateRequest(name=name, password=password),
                                         metadata=metadata, timeout=5).token

            root = [("token", login("root", "rootpw"))]
            carol = [("token", login("carol", "cpw"))]
            seen.append(grpc_error(lambda: auth.UserAdd(etcdrpc.AuthUserAddRequest(name="", password="x"),
                                                        metadata=carol, timeout=5)))
            seen.append(grpc_error(lambda: auth.UserAdd(etcdrpc.AuthUserAddRequest(name="", password="x"),
                                                        metadata=root, timeout=5)))
            seen.append(grpc_error(lambda: login("root", "rootpw", garbage)))
            seen.append(grpc_error(lambda: login("root", "wrong", garbage)))
            auth.UserChangePassword(etcdrpc.AuthUserChangePasswordRequest(name="carol", password="new"),
                                    metadata=root, timeout=5)
            seen.append(grpc_error(lambda: login("carol", "new", carol)))
            auth.AuthDisable(etcdrpc.AuthDisableRequest(), metadata=root, timeout=5)
            seen.append(grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"k"), metadata=root, timeout=5)))
            seen.append(grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"k"), metadata=root, timeout=5)))
            seen.append(grpc_error(lambda: auth.RoleList(etcdrpc.AuthRoleListRequest(), metadata=root, timeout=5)))
            seen.append(grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"k"), timeout=5)))
            channel.close()
            outcomes[server.kind] = seen
        self.assertEqual(outcomes["etcd"], want)
        self.assertEqual(outcomes[self.subj.kind], want)


if __name__ == "__main__":
    main_or_skip()
