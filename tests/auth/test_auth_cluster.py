"""Auth on real cairnd processes: the state survives kill -9, tokens expire, and a
3-member cluster replicates users and enforces them on every member.

Run with Debian's /usr/bin/python3; CAIRND=<path> selects the binary (as tests/e2e).
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import grpc  # noqa: E402

from cluster_harness import Cluster, main, rpc  # noqa: E402
from e2e_harness import E2eTest, Server, etcdctl, subject_path  # noqa: E402

ROOT = ("--user", "root:rootpw")
ALICE = ("--user", "alice:alicepw")


class AuthServer(Server):
    """A single member with extra flags, ready once it answers (even "user name is empty")."""

    extra_flags = ()
    ANSWERING_CODES = (grpc.StatusCode.INVALID_ARGUMENT,)  # auth is on: it answers

    def command(self):
        return super().command() + list(self.extra_flags)


def set_up_users(test, server):
    for args in (("user", "add", "root:rootpw"), ("role", "add", "root"), ("user", "grant-role", "root", "root"),
                 ("user", "add", "alice:alicepw"), ("role", "add", "app"),
                 ("role", "grant-permission", "app", "readwrite", "app/", "--prefix"),
                 ("user", "grant-role", "alice", "app"), ("auth", "enable")):
        r = etcdctl(server, *args)
        test.assertEqual(r.rc, 0, r)


def token_of(server, name, password):
    with grpc.insecure_channel(server.endpoint) as ch:
        return rpc.AuthStub(ch).Authenticate(rpc.AuthenticateRequest(name=name, password=password), timeout=5).token


def range_error(server, key, token):
    with grpc.insecure_channel(server.endpoint) as ch:
        try:
            rpc.KVStub(ch).Range(rpc.RangeRequest(key=key), metadata=[("token", token)], timeout=5)
            return None
        except grpc.RpcError as e:
            return (e.code(), e.details())


class AuthPersistenceTest(E2eTest):
    def start(self, flags=()):
        s = AuthServer(subject_path(), self.tmp, "auth")
        s.extra_flags = tuple(flags)
        self.addCleanup(s.kill)
        s.start()
        return s

    def test_state_and_enabled_flag_survive_kill_9(self):
        s = self.start()
        set_up_users(self, s)
        self.assertEqual(etcdctl(s, *ALICE, "put", "app/a", "1").rc, 0)
        s.kill()
        s.start()
        self.assertIn("user name is empty", etcdctl(s, "get", "app/a").err)
        r = etcdctl(s, *ALICE, "get", "app/a")
        self.assertEqual((r.rc, r.out), (0, "app/a\n1\n"), r)
        self.assertIn("permission denied", etcdctl(s, *ALICE, "put", "other", "1").err)
        self.assertIn("authentication failed", etcdctl(s, "--user", "alice:wrong", "get", "app/a").err)
        r = etcdctl(s, *ROOT, "user", "list")
        self.assertEqual(r.out, "alice\nroot\n", r)
        # Disabled stays disabled after a restart too.
        self.assertEqual(etcdctl(s, *ROOT, "auth", "disable").rc, 0)
        s.kill()
        s.start()
        r = etcdctl(s, "get", "app/a")
        self.assertEqual((r.rc, r.out), (0, "app/a\n1\n"), r)

    def test_tokens_expire_after_the_ttl_and_die_with_their_user(self):
        s = self.start(("--auth-token-ttl", "2"))
        set_up_users(self, s)
        token = token_of(s, "alice", "alicepw")
        self.assertIsNone(range_error(s, b"app/a", token))
        self.assertEqual(range_error(s, b"secret", token),
                         (grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied"))
        time.sleep(2.5)
        self.assertEqual(range_error(s, b"app/a", token),
                         (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token"))
        # A fresh token works until the user's password changes.
        token = token_of(s, "alice", "alicepw")
        self.assertIsNone(range_error(s, b"app/a", token))
        self.assertEqual(etcdctl(s, *ROOT, "user", "passwd", "alice", "--interactive=false", stdin="new\n").rc, 0)
        self.assertEqual(range_error(s, b"app/a", token),
                         (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token"))
        # ... or the user is deleted.
        token = token_of(s, "alice", "new")
        self.assertEqual(etcdctl(s, *ROOT, "user", "delete", "alice").rc, 0)
        self.assertEqual(range_error(s, b"app/a", token),
                         (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token"))

    def test_tokens_of_an_earlier_enable_are_refused(self):
        s = self.start()
        set_up_users(self, s)
        token = token_of(s, "alice", "alicepw")
        self.assertEqual(etcdctl(s, *ROOT, "auth", "disable").rc, 0)
        self.assertEqual(etcdctl(s, "auth", "enable").rc, 0)
        self.assertEqual(range_error(s, b"app/a", token),
                         (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token"))


class AuthClusterTest(E2eTest):
    def test_a_user_added_on_one_member_is_enforced_on_every_member(self):
        # Few entries kept for slow followers: one that misses more gets a store image.
        c = Cluster(self, extra_flags=("--experimental-snapshot-catchup-entries", "5"))
        lead = c.leader()
        follower = c.followers()[0]
        set_up_users(self, follower)   # every change proposed through a follower
        for m in c.members:
            r = etcdctl(m, *ALICE, "put", f"app/{m.name}", m.name)
            self.assertEqual(r.rc, 0, (m.name, r))
            r = etcdctl(m, *ALICE, "get", "other")
            self.assertIn("etcdserver: permission denied", r.err, (m.name, r))
            r = etcdctl(m, "get", "app/m1")
            self.assertIn("etcdserver: user name is empty", r.err, (m.name, r))
        # A token issued by one member is accepted by the others (one signing key, replicated).
        token = token_of(lead, "alice", "alicepw")
        for m in c.members:
            self.assertIsNone(range_error(m, b"app/m1", token), m.name)
        # A member that was down while the state changed catches up from a store image, which
        # carries the auth state.
        follower.kill()
        self.assertEqual(etcdctl(lead, *ROOT, "role", "revoke-permission", "app", "app/", "--prefix").rc, 0)
        for i in range(30):
            self.assertEqual(etcdctl(lead, *ROOT, "put", f"filler{i}", "x").rc, 0)
        follower.launch()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = etcdctl(follower, *ALICE, "get", "app/m1")
            if "permission denied" in r.err:
                break
            time.sleep(0.2)
        self.assertIn("etcdserver: permission denied", r.err, r)
        with open(follower.log_path, errors="replace") as log:
            self.assertIn("installed the leader's store image", log.read(), "the image path was not taken")


if __name__ == "__main__":
    main()
