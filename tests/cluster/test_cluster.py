"""Three-member cairnd clusters: replication, leader failure, leases across elections, minority loss.

Run with Debian's /usr/bin/python3; the subject binary is chosen as in tests/e2e (env CAIRND, else
the build tree's cairnd). Every member listens on 127.0.0.1 free ports; every wait is bounded.
"""

import shutil
import signal
import threading
import time
import unittest

import grpc

from cluster_harness import Cluster, Member, free_port, main, member_change, rpc
from e2e_harness import E2eTest, etcdctl

# The smallest TTL a cluster with --election-timeout 1000 grants (etcd's rule: 1.5 elections).
TTL = 2


class KeepAlive:
    """Renews `lease_ids` every `interval` s on a thread until stopped, through `clients` in turn:
    after an error it moves to the next client. Records each error and each lease answered dead."""

    def __init__(self, test, clients, lease_ids, interval):
        self.errors, self.deaths = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(clients, lease_ids, interval), daemon=True)
        self._thread.start()
        test.addCleanup(self.stop)

    def _run(self, clients, lease_ids, interval):
        n = 0
        while not self._stop.is_set():
            for lease_id in lease_ids:
                try:
                    for answer in clients[n % len(clients)].refresh_lease(lease_id):
                        if answer.TTL <= 0:
                            self.deaths.append(lease_id)
                except Exception as e:  # a member down or an election: try the next client
                    self.errors.append(repr(e))
                    n += 1
            self._stop.wait(interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)


class ClusterTest(E2eTest):

    def test_writes_replicate_and_reads_are_linearizable_on_every_member(self):
        c = Cluster(self)
        clients = [m.client() for m in c.members]
        for i, client in enumerate(clients):
            client.put(f"k{i}", f"v{i}")
        # A linearizable read on any member sees every write acknowledged before it, whoever took it.
        for client in clients:
            for i in range(len(clients)):
                value, meta = client.get(f"k{i}")
                self.assertEqual(value, f"v{i}".encode())
        revisions = {client.get("k2")[1].mod_revision for client in clients}
        self.assertEqual(len(revisions), 1, "every member applied the same log")
        listed = etcdctl(c.members[0], "member", "list")
        self.assertEqual(listed.rc, 0, listed)
        for m in c.members:
            self.assertIn(f", {m.name}, http://127.0.0.1:{m.peer_port}, http://{m.endpoint}", listed.out)
        status = [m.status() for m in c.members]
        self.assertEqual(len({s.leader for s in status}), 1)
        self.assertEqual(len({s.header.cluster_id for s in status}), 1)

    def test_killing_the_leader_loses_no_acknowledged_write(self):
        c = Cluster(self)
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()
        errors = []

        def writer(w):
            clients = [m.client(timeout=3) for m in c.members]
            n, target = 0, w
            while not stop.is_set():
                key = f"w{w:02d}-{n:06d}"
                try:
                    clients[target % len(clients)].put(key, "x")
                    with lock:
                        acked.add(key)
                    n += 1
                except Exception as e:  # a member down or an election: try the next member
                    errors.append(type(e).__name__)
                    target += 1
                    n += 1  # an unacknowledged key may or may not exist; never reuse it
                    time.sleep(0.05)

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        leader = c.leader()
        before_kill = len(acked)
        leader.kill()
        # Writes in flight to the dead leader are lost and time out (the request timeout is
        # 5 s + 2 elections); the survivors elect a leader and take new writes meanwhile.
        deadline = time.monotonic() + 20
        while len(acked) <= before_kill + 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        after_election = len(acked)
        leader.start()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        self.assertGreater(before_kill, 50)
        self.assertGreater(len(acked), after_election, "writes continued after the restart")
        self.assertGreater(after_election, before_kill + 20, "the survivors elected a leader and took writes")
        for m in c.members:
            client = m.client(timeout=20)
            stored = {meta.key.decode() for _, meta in client.get_prefix("w")}
            missing = acked - stored
            self.assertFalse(missing, f"{m.name} lost {len(missing)} acknowledged writes, e.g. {sorted(missing)[:5]}")

    def test_leases_kept_alive_through_followers_survive_a_leader_kill(self):
        c = Cluster(self)
        leader = c.leader()
        f1, f2 = c.followers()
        owner = f1.client()
        kept = []
        for i in range(10):
            lease = owner.lease(TTL)
            owner.put(f"/services/kept/{i}", "up", lease=lease)
            kept.append(lease.id)
        for i in range(5):
            lease = owner.lease(TTL)
            owner.put(f"/services/gone/{i}", "up", lease=lease)
        keeper = KeepAlive(self, [owner], kept, 0.3)
        time.sleep(1)
        leader.kill()
        # Past the kept leases' TTL several times over, and past the abandoned ones' TTL plus the
        # extension a new leader grants (TTL + one election timeout).
        time.sleep(3 * TTL + 3)
        observer = f2.client()
        kept_now = {meta.key.decode() for _, meta in observer.get_prefix("/services/kept/")}
        gone_now = {meta.key.decode() for _, meta in observer.get_prefix("/services/gone/")}
        keeper.stop()
        self.assertEqual(len(kept_now), 10, f"kept-alive leases expired; keep-alive errors: {keeper.errors[:3]}")
        self.assertEqual(gone_now, set(), "the new leader expires the leases nobody keeps alive")
        self.assertNotEqual(c.leader(), leader)

    def test_a_leader_woken_from_a_stall_does_not_revoke_leases_kept_alive_meanwhile(self):
        # A leader stopped (SIGSTOP: a VM stall) for longer than its leases' TTL wakes up believing
        # it still leads, with every lease past its deadline. Its expiry revokes must not take
        # effect: the other two elected a leader that has been renewing those leases.
        ttl = 5  # room for an election and a keep-alive's retry on the other member
        c = Cluster(self)
        leader = c.leader()
        f1, f2 = c.followers()
        renewers = [f1.client(timeout=2), f2.client(timeout=2)]
        kept = []
        for i in range(3):
            lease = renewers[0].lease(ttl)
            renewers[0].put(f"/services/stalled/{i}", "up", lease=lease)
            kept.append(lease.id)
        keeper = KeepAlive(self, renewers, kept, 0.5)
        time.sleep(1)
        leader.pause()
        self.addCleanup(lambda: leader.paused and leader.resume())
        time.sleep(ttl + 3)
        leader.resume()
        time.sleep(ttl + 1)
        keeper.stop()
        present = {meta.key.decode() for _, meta in f2.client().get_prefix("/services/stalled/")}
        self.assertEqual(len(present), 3, f"kept-alive leases were revoked by the woken leader: {keeper.deaths}")
        self.assertEqual(keeper.deaths, [])

    def test_keepalive_and_timetolive_on_a_follower_reach_the_leader(self):
        c = Cluster(self)
        follower = c.followers()[0]
        client = follower.client()
        lease = client.lease(TTL)
        client.put("svc", "a", lease=lease)
        deadline = time.monotonic() + 3 * TTL
        while time.monotonic() < deadline:
            responses = list(client.refresh_lease(lease.id))
            self.assertEqual(responses[0].TTL, TTL)
            time.sleep(0.4)
        self.assertEqual(client.get("svc")[0], b"a", "a lease kept alive via a follower outlived its TTL")
        ttl = etcdctl(follower, "lease", "timetolive", "--keys", format(lease.id, "x"))
        self.assertEqual(ttl.rc, 0, ttl)
        self.assertIn(f"granted with TTL({TTL}s)", ttl.out)
        self.assertIn("attached keys([svc])", ttl.out)

    def test_a_new_leader_resumes_leases_from_their_checkpoints(self):
        # With checkpoints, a long lease nobody renews keeps counting down across a leader kill
        # instead of starting a full TTL again on the new leader.
        long_ttl = 60
        c = Cluster(self, extra_flags=("--experimental-enable-lease-checkpoint",
                                       "--experimental-lease-checkpoint-interval=1000"))
        leader = c.leader()
        lease = leader.client().lease(long_ttl)
        time.sleep(4.5)  # several checkpoint passes, applied on every member
        leader.kill()  # SIGKILL
        new_leader = c.leader()
        self.assertIsNot(new_leader, leader)
        remaining = new_leader.client().get_lease_info(lease.id).TTL
        # A full TTL would read long_ttl or long_ttl - 1 (plus the election timeout extension).
        self.assertLess(remaining, long_ttl - 2, "the new leader gave the lease a full TTL")
        self.assertGreater(remaining, long_ttl - 20)

    def test_move_leader_hands_leadership_to_the_chosen_member(self):
        c = Cluster(self)
        leader = c.leader()
        target = c.followers()[0]
        target_id = format(target.status().header.member_id, "x")
        # A follower refuses, with etcd's code and text (etcdctl itself only asks the leader).
        with target.channel() as ch:
            with self.assertRaises(grpc.RpcError) as refused:
                rpc.MaintenanceStub(ch).MoveLeader(
                    rpc.MoveLeaderRequest(targetID=target.status().header.member_id), timeout=5)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(refused.exception.details(), "etcdserver: not leader")
        moved = etcdctl(leader, "move-leader", target_id)
        self.assertEqual(moved.rc, 0, moved)
        self.assertIn(f"Leadership transferred from {format(leader.status().header.member_id, 'x')} to {target_id}",
                      moved.out)
        self.assertIs(c.leader(), target)
        bad = etcdctl(target, "move-leader", "1234")
        self.assertNotEqual(bad.rc, 0)
        self.assertIn("etcdserver: bad leader transferee", bad.err)
        target.client().put("after-move", "ok")
        self.assertEqual(leader.client().get("after-move")[0], b"ok")

    def test_members_are_added_and_removed_at_runtime(self):
        c = Cluster(self)
        first = c.members[0]
        first.client().put("before-join", "1")
        joiner = Member(first.binary, self.tmp, "m4")
        joiner.initial_cluster = first.initial_cluster + f",m4=http://127.0.0.1:{joiner.peer_port}"
        joiner.extra_flags = ("--initial-cluster-state", "existing")
        self.addCleanup(joiner.kill)
        # Not added yet: it refuses to start, naming the command that adds it.
        joiner.launch()
        self.assertNotEqual(joiner.proc.wait(timeout=20), 0)
        self.assertIn("etcdctl member add m4", joiner.log_tail())
        shutil.rmtree(joiner.data_dir, ignore_errors=True)

        added = member_change(first, "add", "m4", f"--peer-urls=http://127.0.0.1:{joiner.peer_port}")
        self.assertEqual(added.rc, 0, added)
        self.assertIn("added to cluster", added.out)
        joiner.start()
        self.assertEqual(joiner.client().get("before-join")[0], b"1")
        first.client().put("after-join", "2")
        self.assertEqual(joiner.client().get("after-join")[0], b"2")
        # The new member publishes its name and client URLs through the log once it has joined.
        expected = f", m4, http://127.0.0.1:{joiner.peer_port}, http://{joiner.endpoint}"
        deadline = time.monotonic() + 10
        listed = etcdctl(first, "member", "list")
        while expected not in listed.out and time.monotonic() < deadline:
            time.sleep(0.2)
            listed = etcdctl(first, "member", "list")
        self.assertEqual(len(listed.out.strip().splitlines()), 4, listed)
        self.assertIn(expected, listed.out)

        victim = [m for m in c.followers() if m is not joiner][0]
        victim_id = format(victim.status().header.member_id, "x")
        removed = member_change(first if first is not victim else joiner, "remove", victim_id)
        self.assertEqual(removed.rc, 0, removed)
        # etcdctl prints the ID as %16x: space-padded when it has fewer than 16 hex digits.
        self.assertIn(f"Member {int(victim_id, 16):16x} removed from cluster", removed.out)
        victim.proc.wait(timeout=15)  # a removed member stops by itself
        self.assertIn("was removed from the cluster", victim.log_tail())
        survivors = [m for m in c.members + [joiner] if m is not victim]
        survivors[0].client().put("after-remove", "3")
        for m in survivors:
            self.assertEqual(m.client().get("after-remove")[0], b"3")
        listed = etcdctl(survivors[0], "member", "list")
        self.assertEqual(len(listed.out.strip().splitlines()), 3, listed)
        gone = etcdctl(survivors[0], "member", "remove", victim_id)
        self.assertIn("etcdserver: member not found", gone.err)

    def test_member_update_moves_a_member_to_new_peer_urls(self):
        c = Cluster(self)
        leader = c.leader()
        mover = c.followers()[0]
        mover_id = mover.status().header.member_id
        new_port = free_port()
        updated = etcdctl(leader, "member", "update", format(mover_id, "x"),
                          f"--peer-urls=http://127.0.0.1:{new_port}")
        self.assertEqual(updated.rc, 0, updated)
        self.assertIn(f"Member {mover_id:16x} updated in cluster", updated.out)
        expected = f", {mover.name}, http://127.0.0.1:{new_port}, "

        def wait_listed(member):
            deadline = time.monotonic() + 10
            listed = etcdctl(member, "member", "list")
            while expected not in listed.out and time.monotonic() < deadline:
                time.sleep(0.1)
                listed = etcdctl(member, "member", "list")
            self.assertIn(expected, listed.out, (member.name, listed))

        # The others apply it (the mover itself cannot hear the leader until it listens there).
        for m in c.members:
            if m is not mover:
                wait_listed(m)
        # The member moves: restarted on the new peer port (its old --initial-cluster is ignored, as
        # etcd ignores it on a restart), it hears the leader there and catches up.
        mover.kill()
        mover.peer_port = new_port
        mover.launch()
        mover.wait_ready()
        leader.client().put("after-move", "1")
        self.assertEqual(mover.client().get("after-move")[0], b"1")
        wait_listed(mover)
        # etcd's refusals: an unknown member, a peer URL another member has.
        unknown = etcdctl(leader, "member", "update", "1234abcd", "--peer-urls=http://127.0.0.1:1")
        self.assertNotEqual(unknown.rc, 0)
        self.assertIn("etcdserver: member not found", unknown.err)
        other = [m for m in c.members if m is not mover][0]
        taken = etcdctl(leader, "member", "update", format(mover_id, "x"),
                        f"--peer-urls=http://127.0.0.1:{other.peer_port}")
        self.assertNotEqual(taken.rc, 0)
        self.assertIn("etcdserver: Peer URLs already exists", taken.err)

    def test_a_minority_refuses_writes_and_recovers_when_peers_return(self):
        c = Cluster(self)
        m1, m2, m3 = c.members
        self.assertEqual(m1.health()[0], 200)
        m2.kill()
        m3.kill()
        # Without a quorum the member loses its leader and says so on /health, as etcd does.
        deadline = time.monotonic() + 15
        while m1.health()[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(m1.health(), (503, '{"health":"false","reason":"RAFT NO LEADER"}'))
        with self.assertRaises(Exception):
            m1.client(timeout=4).put("lonely", "x")
        # A serializable read needs no quorum.
        serial = etcdctl(m1, "get", "readiness-probe", "--consistency=s")
        self.assertEqual(serial.rc, 0, serial)
        m2.launch()
        m3.launch()
        m2.wait_ready()
        m3.wait_ready()
        m1.client().put("back", "y")
        for m in c.members:
            self.assertEqual(m.client().get("back")[0], b"y")
        self.assertEqual(m1.health()[0], 200)

    def test_a_member_far_behind_catches_up_from_a_store_image(self):
        # Keep only 50 applied entries for slow followers, so a member that misses hundreds of writes needs
        # the leader's store image rather than the log.
        c = Cluster(self, extra_flags=["--experimental-snapshot-catchup-entries", "50"])
        leader = c.leader()
        stalled, restarted = c.followers()
        stalled_client = stalled.client()
        stalled_client.put("before", "0")
        # A watcher on the member that will install the image: it must still see every event.
        seen = []
        done = threading.Event()

        def watch():
            events, cancel = stalled.client(timeout=60).watch_prefix("/img/")
            self.addCleanup(cancel)
            for event in events:
                seen.append(event.key.decode())
                if len(seen) >= 1101:
                    done.set()
                    return

        threading.Thread(target=watch, daemon=True).start()
        time.sleep(0.5)
        writer = leader.client()
        lease = writer.lease(60)

        def write_batch(first, count):
            for i in range(first, first + count):
                writer.put(f"/img/{i:04d}", str(i), lease=lease if i % 100 == 0 else None)

        # Phase 1: a member that is alive but silent (stopped) falls behind, then resumes. More
        # writes than the leader keeps in flight to one follower, so what it misses is compacted.
        stalled.proc.send_signal(signal.SIGSTOP)
        write_batch(0, 800)
        writer.delete("before")
        stalled.proc.send_signal(signal.SIGCONT)
        # Phase 2: a member that is down falls behind, then restarts.
        restarted.kill()
        write_batch(800, 300)
        restarted.start()
        writer.put("/img/after", "x")
        for m in (stalled, restarted):
            client = m.client()
            # Linearizable: waits until the member has caught up with the leader's commit.
            self.assertEqual(client.get("/img/after")[0], b"x")
            got = {meta.key.decode(): value for value, meta in client.get_prefix("/img/")}
            self.assertEqual(len(got), 1101, m.name)
            self.assertEqual(got["/img/1099"], b"1099")
            self.assertIsNone(client.get("before")[0])
            self.assertIn("installed the leader's store image", m.log_tail(300), m.name)
            # The image carried the leases and their keys.
            ttl = etcdctl(m, "lease", "timetolive", "--keys", format(lease.id, "x"))
            self.assertIn("/img/0000", ttl.out, ttl)
        revisions = {m.client().get("/img/1099")[1].mod_revision for m in c.members}
        self.assertEqual(len(revisions), 1)
        self.assertTrue(done.wait(10), f"the watcher saw {len(seen)} of 1101 events")
        self.assertEqual(seen[:1100], [f"/img/{i:04d}" for i in range(1100)])
        self.assertEqual(seen[1100], "/img/after")

if __name__ == "__main__":
    main()
