"""--strict-reconfig-check: membership changes that could cost a cluster its live quorum are refused
with etcd 3.4's errors, whether etcdctl asks the leader or a follower (which asks the leader).

Run with Debian's /usr/bin/python3; the subject binary is chosen as in tests/e2e (CAIRND=etcd runs
the same tests against etcd 3.4, which gives the same answers). Every member listens on 127.0.0.1
free ports; every wait is bounded.
"""

import re
import time

from cluster_harness import Cluster, Member, free_port, main, member_change
from e2e_harness import E2eTest, etcdctl

NOT_ENOUGH_STARTED = "etcdserver: re-configuration failed due to not enough started members"
UNHEALTHY = "etcdserver: unhealthy cluster"
LEARNER_NOT_READY = "etcdserver: can only promote a learner member which is in sync with leader"

# etcd's HealthInterval: how long the leader must have heard a voter before it counts as live.
HEALTH_INTERVAL = 5


def peer_url(port):
    return f"http://127.0.0.1:{port}"


class ReconfigTest(E2eTest):

    def assertRefused(self, result, text):
        self.assertNotEqual(result.rc, 0, result)
        self.assertIn(f"Error: {text}", result.err, result)

    def assertMemberCount(self, member, count):
        listed = etcdctl(member, "member", "list")
        self.assertEqual(listed.rc, 0, listed)
        self.assertEqual(len(listed.out.strip().splitlines()), count, listed)

    def wait_health_interval(self, cluster):
        """Until the leader has heard every member for longer than the health interval."""
        started = max(m.ready_at for m in cluster.members)
        time.sleep(max(0, started + HEALTH_INTERVAL + 1 - time.monotonic()))

    def test_adding_a_voter_while_an_added_one_has_not_started_is_refused(self):
        c = Cluster(self, size=2)
        leader, follower = c.leader(), c.followers()[0]
        first = member_change(leader, "add", "m3", f"--peer-urls={peer_url(free_port())}")
        self.assertEqual(first.rc, 0, first)
        # Two started voters of four would be less than a quorum: refused by the leader, and by a
        # follower with the leader's verdict.
        for asked in (leader, follower):
            self.assertRefused(etcdctl(asked, "member", "add", "m4", f"--peer-urls={peer_url(free_port())}"),
                               NOT_ENOUGH_STARTED)
        self.assertMemberCount(leader, 3)

    def test_with_a_member_down_only_its_removal_is_accepted(self):
        c = Cluster(self)
        self.wait_health_interval(c)
        leader = c.leader()
        live, dead = c.followers()
        dead.kill()
        time.sleep(2)  # past the election timeout: the leader no longer hears it
        live_id = format(live.status().header.member_id, "x")
        dead_id = format(self.member_id_of(leader, dead), "x")
        for asked in (leader, live):
            # Removing a live member would leave the leader alone with a dead one.
            self.assertRefused(etcdctl(asked, "member", "remove", live_id), UNHEALTHY)
            # A new voter would need every voter live.
            self.assertRefused(etcdctl(asked, "member", "add", "m4", f"--peer-urls={peer_url(free_port())}"),
                               UNHEALTHY)
        self.assertMemberCount(leader, 3)
        # The dead member is not part of the live quorum: removing it is fine (asked of a follower).
        removed = etcdctl(live, "member", "remove", dead_id)
        self.assertEqual(removed.rc, 0, removed)
        self.assertIn("removed from cluster", removed.out)
        self.assertMemberCount(leader, 2)
        leader.client().put("after-remove", "1")
        self.assertEqual(live.client().get("after-remove")[0], b"1")

    def member_id_of(self, asked, member):
        """A member's ID from `asked`'s member list, by its peer URL (works while it is down)."""
        listed = etcdctl(asked, "member", "list")
        for line in listed.out.splitlines():
            if peer_url(member.peer_port) in line:
                return int(line.split(",")[0], 16)
        self.fail(f"{member.name} not listed: {listed}")

    def test_a_learner_is_promoted_only_once_it_has_caught_up(self):
        c = Cluster(self)
        leader = c.leader()
        follower = c.followers()[0]
        for i in range(50):
            leader.client().put(f"before-learner-{i}", "x" * 100)
        learner = Member(leader.binary, self.tmp, "m4")
        learner.initial_cluster = leader.initial_cluster + f",m4={peer_url(learner.peer_port)}"
        learner.extra_flags = ("--initial-cluster-state", "existing")
        self.addCleanup(learner.kill)
        added = member_change(leader, "add", "m4", f"--peer-urls={peer_url(learner.peer_port)}", "--learner")
        self.assertEqual(added.rc, 0, added)
        learner_id = re.search(r"Member\s+([0-9a-f]+) added", added.out).group(1)
        # Added but never started: it holds none of the leader's log.
        for asked in (leader, follower):
            self.assertRefused(etcdctl(asked, "member", "promote", learner_id), LEARNER_NOT_READY)
        learner.launch()
        deadline = time.monotonic() + 30
        while True:
            promoted = etcdctl(follower, "member", "promote", learner_id)
            if promoted.rc == 0 or time.monotonic() > deadline:
                break
            self.assertIn(LEARNER_NOT_READY, promoted.err, promoted)
            time.sleep(0.3)
        self.assertEqual(promoted.rc, 0, promoted)
        self.assertIn("promoted in cluster", promoted.out)
        listed = etcdctl(leader, "member", "list")
        self.assertNotIn(", true", listed.out, listed)

    def test_without_strict_checks_an_add_that_strict_checks_refuse_is_accepted(self):
        c = Cluster(self, size=2, extra_flags=["--strict-reconfig-check=false"])
        leader, follower = c.leader(), c.followers()[0]
        first = etcdctl(leader, "member", "add", "m3", f"--peer-urls={peer_url(free_port())}")
        self.assertEqual(first.rc, 0, first)
        second = etcdctl(follower, "member", "add", "m4", f"--peer-urls={peer_url(free_port())}")
        self.assertEqual(second.rc, 0, second)
        self.assertMemberCount(leader, 4)


if __name__ == "__main__":
    main()
