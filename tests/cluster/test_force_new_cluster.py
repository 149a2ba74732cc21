"""--force-new-cluster: recovering a three-member cluster that lost two members for good.

etcd's documented procedure: restart the survivor with --force-new-cluster; it keeps its data, becomes
the only member and serves at once; new members are then added with `etcdctl member add`. Old
members brought back on their old data must not disturb it: they were removed, and they stop.

Run with Debian's /usr/bin/python3; the subject binary is chosen as in tests/e2e. Every member
listens on 127.0.0.1 free ports; every wait is bounded.
"""

import time

from cluster_harness import ClusterChecks, Cluster, Member, main
from e2e_harness import E2eTest, etcdctl, subject_path

KEYS = 30


def member_lines(member):
    listed = etcdctl(member, "member", "list")
    assert listed.rc == 0, listed
    return listed.out.strip().splitlines()


class ForceNewClusterTest(E2eTest, ClusterChecks):

    def assert_all_keys(self, member, extra=()):
        client = member.client()
        for i in range(KEYS):
            self.assertEqual(client.get(f"k{i}")[0], f"v{i}".encode(), f"k{i} on {member.name}")
        for key in extra:
            self.assertEqual(client.get(key)[0], b"x", f"{key} on {member.name}")

    def lose_quorum(self):
        """A three-member cluster with KEYS acknowledged writes, of which only m1 survives."""
        c = Cluster(self)
        leader = c.leader()
        client = leader.client()
        for i in range(KEYS):
            client.put(f"k{i}", f"v{i}")
        survivor = c.members[0]
        # A linearizable read through the survivor: it has applied every acknowledged write (what
        # --force-new-cluster keeps is what the survivor knows was committed).
        self.assertEqual(survivor.client().get(f"k{KEYS - 1}")[0], f"v{KEYS - 1}".encode())
        lost = c.members[1:]
        for m in lost:
            m.kill()
        return c, survivor, lost

    def test_the_survivor_restarted_with_force_new_cluster_keeps_its_data_and_takes_new_members(self):
        c, survivor, lost = self.lose_quorum()
        survivor_id = self.member_id(survivor)
        # Without a quorum the survivor cannot write.
        with self.assertRaises(Exception):
            survivor.client(timeout=3).put("no-quorum", "x")

        survivor.kill()
        survivor.extra_flags = survivor.extra_flags + ("--force-new-cluster",)
        survivor.start()
        self.assertIn("--force-new-cluster: member", survivor.log_tail(60))
        self.assertEqual(self.member_id(survivor), survivor_id)  # same member, same cluster
        self.assert_all_keys(survivor)
        lines = member_lines(survivor)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(f"{survivor_id:x}, started, m1,", lines[0])
        survivor.client().put("forced", "x")
        self.assertEqual(survivor.status().leader, survivor_id)

        # A restart without the flag keeps the one-member cluster.
        survivor.stop()
        survivor.extra_flags = tuple(f for f in survivor.extra_flags if f != "--force-new-cluster")
        survivor.start()
        self.assertEqual(len(member_lines(survivor)), 1)
        self.assert_all_keys(survivor, extra=["forced"])
        survivor.client().put("restarted", "x")
        # And forcing again changes nothing.
        survivor.kill()
        survivor.extra_flags = survivor.extra_flags + ("--force-new-cluster",)
        survivor.start()
        self.assertIn("already is the only member", survivor.log_tail(60))
        self.assertEqual(len(member_lines(survivor)), 1)
        self.assert_all_keys(survivor, extra=["forced", "restarted"])

        # New members join as in any cluster, and catch up.
        joiner = Member(survivor.binary, self.tmp, "m4")
        joiner.initial_cluster = f"m1=http://127.0.0.1:{survivor.peer_port},m4=http://127.0.0.1:{joiner.peer_port}"
        joiner.extra_flags = ("--initial-cluster-state", "existing")
        self.addCleanup(joiner.kill)
        added = etcdctl(survivor, "member", "add", "m4", f"--peer-urls=http://127.0.0.1:{joiner.peer_port}")
        self.assertEqual(added.rc, 0, added)
        joiner.start()
        self.assert_all_keys(joiner, extra=["forced", "restarted"])
        survivor.client().put("after-join", "x")
        self.assertEqual(joiner.client().get("after-join")[0], b"x")
        self.wait_hashes_agree([survivor, joiner])
        self.assertEqual(len(member_lines(joiner)), 2)

    def test_old_members_back_on_their_old_data_stop_and_leave_the_forced_member_alone(self):
        c, survivor, lost = self.lose_quorum()
        survivor_id = self.member_id(survivor)
        survivor.kill()
        survivor.extra_flags = survivor.extra_flags + ("--force-new-cluster",)
        survivor.start()
        survivor.client().put("forced", "x")

        # The worst case: both old members come back on their old data while the forced member is
        # down. Between them they are a quorum of the old configuration: they elect a leader and
        # even take a write. Then the forced member comes back.
        forced_term = survivor.status().raftTerm
        survivor.stop()
        for m in lost:
            m.launch()
        for m in lost:
            m.wait_ready()
        old_leader = c.leader()
        self.assertIn(old_leader, lost)
        # Leadership moves raise their term past the one the forced member will restart in, so
        # their messages would make it step down were they not dropped.
        for _ in range(10):
            if old_leader.status().raftTerm > forced_term + 2:
                break
            target = [m for m in lost if m is not old_leader][0]
            moved = etcdctl(old_leader, "move-leader", format(self.member_id(target), "x"))
            self.assertEqual(moved.rc, 0, moved)
            old_leader = c.leader()
        self.assertGreater(old_leader.status().raftTerm, forced_term + 2)
        old_leader.client().put("zombie", "x")
        survivor.extra_flags = tuple(f for f in survivor.extra_flags if f != "--force-new-cluster")
        survivor.start()
        revision_before = survivor.status().header.revision

        # The old leader's messages are dropped (it cannot make the forced member follow it), and
        # the old members learn from it that they were removed, and stop.
        deadline = time.monotonic() + 60
        writes = 0
        client = survivor.client(timeout=5)
        while any(m.running() for m in lost) and time.monotonic() < deadline:
            client.put(f"during-{writes}", "x")
            writes += 1
            time.sleep(0.2)
        for m in lost:
            self.assertFalse(m.running(), f"{m.name} still runs:\n{m.log_tail()}")
            self.assertIn("was removed from the cluster", m.log_tail(60), m.name)

        # The forced member kept leading, alone, with every write it acknowledged and nothing else.
        status = survivor.status()
        self.assertEqual(status.leader, survivor_id)
        self.assertEqual(status.header.revision, revision_before + writes)
        self.assertEqual(len(member_lines(survivor)), 1)
        self.assert_all_keys(survivor, extra=["forced"] + [f"during-{i}" for i in range(writes)])
        self.assertEqual(survivor.client().get("zombie")[0], None)

    def test_the_flag_is_ignored_on_a_new_data_directory(self):
        alone = Member(subject_path(), self.tmp, "solo")
        alone.initial_cluster = f"solo=http://127.0.0.1:{alone.peer_port}"
        alone.extra_flags = ("--force-new-cluster",)
        self.addCleanup(alone.kill)
        alone.start()
        self.assertIn("--force-new-cluster ignored", alone.log_tail(60))
        alone.client().put("k", "v")
        self.assertEqual(len(member_lines(alone)), 1)


if __name__ == "__main__":
    main()
