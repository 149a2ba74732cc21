#!/usr/bin/python3
"""Three cairnd members on https:// peer URLs with --peer-client-cert-auth: writes replicate,
a leader is elected (and re-elected when it dies), MemberList shows the https peer URLs; a member
whose peer certificate comes from another CA receives nothing while the other two commit."""
import json
import os
import time
import unittest

import tls_harness as h


def peer_flags(d, cert="server"):
    p = lambda n: os.path.join(d, n)
    return ["--peer-cert-file", p(f"{cert}.crt"), "--peer-key-file", p(f"{cert}.key"),
            "--peer-trusted-ca-file", p("ca.crt"), "--peer-client-cert-auth",
            "--heartbeat-interval", "100", "--election-timeout", "1000"]


def start_cluster(root, certs):
    members = [h.Cairnd(root, f"m{i}", peer_scheme="https", flags=peer_flags(root, cert))
               for i, cert in enumerate(certs)]
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    for m in members:
        m.initial_cluster = initial
        m.start()
    return members


def status(member):
    out, err, rc = h.etcdctl(member.client_url, ["-w", "json", "endpoint", "status"])
    return json.loads(out)[0]["Status"] if rc == 0 else None


def serializable_get(member, key):
    out, _, rc = h.etcdctl(member.client_url, ["get", "--consistency=s", "--print-value-only", key])
    return out.strip() if rc == 0 else None


class PeerTlsClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = h.TempDir()
        self.dir = self.tmp.__enter__()
        h.make_certs(self.dir)
        self.members = []

    def tearDown(self):
        for m in self.members:
            m.stop()
        self.tmp.__exit__(None, None, None)

    def test_replicates_and_elects_over_mutual_tls(self):
        self.members = start_cluster(self.dir, ["server", "server", "client"])
        for m in self.members:
            m.wait_ready()
        _, err, rc = h.etcdctl(self.members[0].client_url, ["put", "replicated", "yes"])
        self.assertEqual(rc, 0, err)
        for m in self.members:
            h.wait_until(lambda: serializable_get(m, "replicated") == "yes", 15, f"{m.name} to apply the write")
        out, err, rc = h.etcdctl(self.members[1].client_url, ["-w", "json", "member", "list"])
        self.assertEqual(rc, 0, err)
        peer_urls = sorted(u for m in json.loads(out)["members"] for u in m["peerURLs"])
        self.assertEqual(peer_urls, sorted(m.peer_url for m in self.members))

        leader_id = h.wait_until(lambda: (status(self.members[0]) or {}).get("leader"), 15, "a leader")
        leader = next(m for m in self.members if (status(m) or {}).get("header", {}).get("member_id") == leader_id)
        leader.kill()
        rest = [m for m in self.members if m is not leader]
        h.wait_until(lambda: all((status(m) or {}).get("leader") not in (None, 0, leader_id) for m in rest),
                     20, "a new leader among the other two")
        _, err, rc = h.etcdctl(rest[0].client_url, ["put", "after", "election"])
        self.assertEqual(rc, 0, err)
        h.wait_until(lambda: serializable_get(rest[1], "after") == "election", 15, "the write after re-election")

    def test_member_with_certificate_of_another_ca_receives_nothing(self):
        self.members = start_cluster(self.dir, ["server", "server", "other"])
        good, outsider = self.members[:2], self.members[2]
        for m in good:
            m.wait_ready()
        _, err, rc = h.etcdctl(good[0].client_url, ["put", "secret", "committed"])
        self.assertEqual(rc, 0, err)
        h.wait_until(lambda: serializable_get(good[1], "secret") == "committed", 15, "the other good member")
        # Give the leader a few heartbeats and retries toward the outsider: it must still have nothing.
        time.sleep(3)
        self.assertIsNone(outsider.proc.poll(), outsider.log())
        self.assertEqual(serializable_get(outsider, "secret"), "")
        st = status(outsider)
        self.assertTrue(st is None or st.get("leader", 0) == 0, st)
        self.assertTrue(status(good[0])["leader"] != 0)

    def test_peer_auto_tls_replicates_without_certificate_files(self):
        self.members = [h.Cairnd(self.dir, f"m{i}", peer_scheme="https", flags=["--peer-auto-tls"])
                        for i in range(3)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            m.initial_cluster = initial
            m.start()
        for m in self.members:
            m.wait_ready()
        _, err, rc = h.etcdctl(self.members[2].client_url, ["put", "auto", "tls"])
        self.assertEqual(rc, 0, err)
        for m in self.members:
            h.wait_until(lambda: serializable_get(m, "auto") == "tls", 15, f"{m.name} to apply the write")
            self.assertTrue(os.path.exists(os.path.join(m.data_dir, "fixtures", "peer", "key.pem")))

    def test_join_over_peer_tls_and_a_foreign_certificate_cannot_join(self):
        self.members = start_cluster(self.dir, ["server"])
        founder = self.members[0].wait_ready()
        _, err, rc = h.etcdctl(founder.client_url, ["put", "before-join", "1"])
        self.assertEqual(rc, 0, err)

        joiner = h.Cairnd(self.dir, "m1", peer_scheme="https", flags=peer_flags(self.dir, "client"))
        _, err, rc = h.etcdctl(founder.client_url, ["member", "add", "m1", f"--peer-urls={joiner.peer_url}"])
        self.assertEqual(rc, 0, err)
        joiner.initial_cluster = f"{founder.name}={founder.peer_url},m1={joiner.peer_url}"
        joiner.flags += ["--initial-cluster-state", "existing"]
        self.members.append(joiner.start())
        joiner.wait_ready()
        h.wait_until(lambda: serializable_get(joiner, "before-join") == "1", 15, "the joiner to catch up")

        outsider = h.Cairnd(self.dir, "m2", peer_scheme="https", flags=peer_flags(self.dir, "other"))
        # With --strict-reconfig-check (as etcd) the leader adds a voter only once the joiner has
        # published its name through the log ("not enough started members" until then) and it has
        # heard every voter for 5 s ("unhealthy cluster"): the joiner has just started.
        def add_outsider():
            result = h.etcdctl(founder.client_url, ["member", "add", "m2", f"--peer-urls={outsider.peer_url}"])
            refused = ("etcdserver: unhealthy cluster", "not enough started members")
            if any(text in result[1] for text in refused):
                last_refusal[0] = result[1].strip().splitlines()[-1]
                return None
            return result
        last_refusal = [None]
        try:
            _, err, rc = h.wait_until(add_outsider, 20, "the leader to accept a second added member")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last_refusal[0]}")
        self.assertEqual(rc, 0, err)
        outsider.initial_cluster = joiner.initial_cluster + f",m2={outsider.peer_url}"
        outsider.flags += ["--initial-cluster-state", "existing"]
        rc, out = outsider.run_to_exit(timeout=30)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("cannot reach any member", out)
        # Two of three voters still commit.
        _, err, rc = h.etcdctl(founder.client_url, ["put", "after-outsider", "2"])
        self.assertEqual(rc, 0, err)
        h.wait_until(lambda: serializable_get(joiner, "after-outsider") == "2", 15, "the joiner to apply")


if __name__ == "__main__":
    h.main()
