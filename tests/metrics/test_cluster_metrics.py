"""Peer and leadership metrics on a 3-member cairnd cluster (tests/cluster harness).

After writes through the leader, every member reports a leader and the leader's peers as active,
with bytes sent to and received from each (by member ID in hex, etcd's To/From labels). After the
leader is killed, the survivors count a second leader change and report failed sends to the dead
member. Exits 77 (skipped) when cairnd is missing."""
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, HERE)

from cluster_harness import Cluster, main, rpc  # noqa: E402
from e2e_harness import E2eTest  # noqa: E402
from test_etcd_metrics import parse  # noqa: E402


def scrape(member):
    with urllib.request.urlopen(f"http://127.0.0.1:{member.metrics_port}/metrics", timeout=5) as r:
        return parse(r.read().decode())


def series(families, name):
    """{tuple(sorted labels): value} of one family."""
    return {tuple(sorted(l.items())): v for _, l, v in families.get(name, {"samples": []})["samples"]}


def member_id(member):
    return "%x" % member.status().header.member_id


def wait_for(check, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class ClusterMetricsTest(E2eTest):
    def test_peer_traffic_and_leader_changes(self):
        cluster = Cluster(self, size=3)
        leader = cluster.leader()
        with leader.channel() as ch:
            kv = rpc.KVStub(ch)
            for i in range(20):
                kv.Put(rpc.PutRequest(key=b"k%d" % i, value=b"v" * 100), timeout=5)
        ids = {m.name: member_id(m) for m in cluster.members}
        lead_id = ids[leader.name]
        others = [ids[m.name] for m in cluster.members if m is not leader]

        def peers_reported():
            m = scrape(leader)
            self.assertEqual(series(m, "etcd_server_is_leader"), {(): 1.0})
            sent = series(m, "etcd_network_peer_sent_bytes_total")
            received = series(m, "etcd_network_peer_received_bytes_total")
            active = series(m, "etcd_network_active_peers")
            for peer in others:
                self.assertGreater(sent.get((("To", peer),), 0), 20 * 100)  # the entries went out
                self.assertGreater(received.get((("From", peer),), 0), 0)  # their acks came back
                self.assertEqual(active.get((("Local", lead_id), ("Remote", peer))), 1.0)
            self.assertNotIn((("To", lead_id),), sent)
            for member in cluster.members:
                f = scrape(member)
                self.assertEqual(series(f, "etcd_server_has_leader"), {(): 1.0})
                self.assertGreaterEqual(series(f, "etcd_server_leader_changes_seen_total")[()], 1)
                self.assertGreaterEqual(series(f, "etcd_mvcc_put_total")[()], 20)  # applied everywhere
        wait_for(peers_reported)

        before = {m.name: series(scrape(m), "etcd_server_leader_changes_seen_total")[()]
                  for m in cluster.members if m is not leader}
        leader.kill()
        survivors = [m for m in cluster.members if m is not leader]
        cluster.leader()

        def failover_reported():
            for member in survivors:
                m = scrape(member)
                self.assertEqual(series(m, "etcd_server_has_leader"), {(): 1.0})
                self.assertGreater(series(m, "etcd_server_leader_changes_seen_total")[()], before[member.name])
            new_leader = cluster.leader()
            failures = series(scrape(new_leader), "etcd_network_peer_sent_failures_total")
            self.assertGreater(failures.get((("To", lead_id),), 0), 0)
        wait_for(failover_reported, timeout=20)


if __name__ == "__main__":
    main()
