"""The crash soak's checker: after each restart, replays what the workers saw into the store model,
resolves the calls whose answer was lost, and compares the restarted server with the model.

Resolution, revision by revision from the last checked one to the server's current revision:
every revision must have exactly one producer. An acknowledged write that changed something
(a put; a delete or txn whose answer says it changed something) produced the revision in its
answer header. A revision no such write claims is read back from the server (a Range at that
revision) and must equal the model's key space after one of: an acknowledged LeaseRevoke answered
at that revision (it deleted the lease's keys) or a still unresolved ambiguous call sent before
the revision existed. An ambiguous call that produces no revision is "not applied" (or applied
without a visible change, which is the same to a user). Then every acknowledged answer that
changed nothing (reads, deletes of missing keys, txns without writes, revokes of key-less
leases) must agree with the model at its header revision.

Problems are returned as strings; the first unexplained revision ends the round's replay (what
follows it cannot be trusted). Not thread-safe: one checker per soak, run between rounds.
"""

import time
from collections import Counter

from store_model import KeyVersion, StoreModel
from crash_workload import LEASE_NOT_FOUND

COMPACTED = "mvcc: required revision has been compacted"
TAIL_REVISIONS = 40    # the revisions before the current one that are all read back


def kvs_of(answer_kvs):
    return [(kv.key, KeyVersion(kv.value, kv.create_revision, kv.mod_revision, kv.version,
                                kv.lease)) for kv in answer_kvs]


def describe_diff(model, server, limit=8):
    lines = []
    for key in sorted(set(model) | set(server)):
        if model.get(key) != server.get(key):
            lines.append(f"    {key!r}: model {model.get(key)}, server {server.get(key)}")
    more = f"\n    ... {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


class Unexplained(Exception):
    """A revision no call explains: the replay cannot go on."""


class Checker:
    def __init__(self, rng):
        self.rng = rng
        self.model = StoreModel()
        self.compacted_at = 0            # the server's compaction revision as resolved
        self.live_leases = {}            # id -> (ttl, granted at monotonic)
        self.revoked_leases = set()
        self.counts = Counter()          # checks made, ambiguous resolutions
        self.producer_of = {}            # revision -> the call that took it (this round)

    # ------------------------------------------------------------------ the round

    def check_round(self, ops, server, shared):
        """Resolves and checks one round's `ops` against the restarted `server` (a
        ServerReader); updates `shared` (lease pool, revisions) for the next round. Returns the
        list of problems (empty when all is well)."""
        problems = []
        current, now_state = server.current()
        self.counts["current revision read"] += 1
        acked = [op for op in ops if op.outcome == "acked"]
        ambiguous = [op for op in ops if op.outcome == "ambiguous"]
        problems += self._check_refusals(ops, shared)
        highest = max([op.revision for op in acked] + [0])
        if highest > current:
            problems.append(f"acknowledged revision {highest} is above the current revision "
                            f"{current} after restart")
        applied = set()
        try:
            self._replay(acked, ambiguous, current, server, applied, problems)
        except Unexplained as e:
            problems.append(str(e))
            return problems
        writes = [op for op in ambiguous if op.kind in ("put", "delete", "txn", "lease_revoke")]
        self.counts["lost-answer writes applied (took a revision)"] += len(applied)
        self.counts["lost-answer writes without a revision"] += len(writes) - len(applied)
        problems += self._check_unchanging_answers(acked, current)
        problems += self._check_compaction(ops, server)
        model_now = self.model.snapshot(current)
        self.counts["keys compared at current revision"] += len(model_now)
        if model_now != now_state:
            problems.append(f"key space at the current revision {current} differs from the "
                            f"model:\n{describe_diff(model_now, now_state)}")
        problems += self._check_past_revisions(current, server)
        problems += self._check_leases(ops, applied, server, shared)
        with shared.lock:
            shared.max_acked = current
            shared.in_flight.clear()
            shared.compacting = False
        return problems

    # ------------------------------------------------------------------ answers

    def _check_refusals(self, ops, shared):
        problems = []
        for op in ops:
            if op.outcome != "refused":
                continue
            self.counts["refusals checked"] += 1
            if (op.kind == "put" and op.error[1] == LEASE_NOT_FOUND
                    and op.request["lease"] in shared.revoking):
                continue   # raced with the lease's revocation
            problems.append(f"unexpected refusal: {op}")
        return problems

    @staticmethod
    def _changes_something(op):
        if op.kind == "put":
            return True
        if op.kind == "delete":
            return op.answer.deleted > 0
        if op.kind == "txn":
            branch = op.request["success" if op.answer.succeeded else "failure"]
            if any(o["kind"] == "put" for o in branch):
                return True
            return any(r.WhichOneof("response") == "response_delete_range"
                       and r.response_delete_range.deleted > 0 for r in op.answer.responses)
        return False

    def _answer_problems(self, op, prediction, at):
        """How op's answer differs from what the model predicts at revision `at`."""
        answer = op.answer
        where = f"{op} (model at revision {at})"
        if op.kind == "txn" and answer.succeeded != prediction.succeeded:
            return [f"txn took the {'success' if answer.succeeded else 'failure'} branch, the "
                    f"model's compares say otherwise: {where}"]
        if op.kind == "range":
            got = kvs_of(answer.kvs)
            expected = prediction.answers[0][1]
            return [] if got == expected else [f"range answer {got} != model {expected}: {where}"]
        if op.kind == "put":
            if op.request["prev_kv"]:
                prev = prediction.answers[0][1]
                got = kvs_of([answer.prev_kv])[0][1] if answer.HasField("prev_kv") else None
                if got != prev:
                    return [f"put's prev_kv {got} != model {prev}: {where}"]
            return []
        if op.kind == "delete":
            gone = prediction.answers[0][1]
            if answer.deleted != len(gone):
                return [f"delete answered deleted={answer.deleted}, model deletes "
                        f"{[k for k, _ in gone]}: {where}"]
            if op.request["prev_kv"] and kvs_of(answer.prev_kvs) != gone:
                return [f"delete's prev_kvs {kvs_of(answer.prev_kvs)} != model {gone}: {where}"]
            return []
        if op.kind == "txn":
            problems = []
            for (kind, expected), response in zip(prediction.answers, answer.responses):
                if kind == "range":
                    got = kvs_of(response.response_range.kvs)
                    if got != expected:
                        problems.append(f"txn range answer {got} != model {expected}: {where}")
                elif kind == "delete":
                    if response.response_delete_range.deleted != len(expected):
                        problems.append(f"txn delete answered deleted="
                                        f"{response.response_delete_range.deleted}, model "
                                        f"{len(expected)}: {where}")
            if len(prediction.answers) != len(answer.responses):
                problems.append(f"txn answered {len(answer.responses)} responses, expected "
                                f"{len(prediction.answers)}: {where}")
            return problems
        return []

    # ------------------------------------------------------------------ replay

    def _replay(self, acked, ambiguous, current, server, applied, problems):
        producers = {}
        revokes = {}
        for op in acked:
            if self._changes_something(op):
                if op.revision <= self.model.revision:
                    problems.append(f"acknowledged write at revision {op.revision}, at or below "
                                    f"the revision checked before: {op}")
                    continue
                producers.setdefault(op.revision, []).append(op)
            elif op.kind == "lease_revoke":
                revokes.setdefault(op.revision, []).append(op)
        for revision, claimants in producers.items():
            if len(claimants) > 1:
                problems.append(f"revision {revision} acknowledged to {len(claimants)} writes: "
                                f"{claimants}")
        self.producer_of = {}
        for revision in range(self.model.revision + 1, current + 1):
            before = revision - 1
            if revision in producers:
                op = producers[revision][0]
                prediction = self.model.predict(op.request, before, revision)
                problems += self._answer_problems(op, prediction, before)
                self.counts["acknowledged writes replayed"] += 1
                self.model.apply(prediction.changes, revision)
                self.producer_of[revision] = op
                continue
            server_state = server.state_at(revision)
            self.counts["revisions read back to resolve"] += 1
            if server_state is None:
                # Compacted since: only an acknowledged revoke can have produced it (the
                # workload never compacts above an in-flight write's floor).
                revoke = [op for op in revokes.get(revision, [])
                          if self.model.lease_keys(op.request["lease"], before)]
                if not revoke:
                    raise Unexplained(f"revision {revision} has no acknowledged write and cannot "
                                      f"be read back (compacted at {self.compacted_at}?)")
                prediction = self.model.predict(revoke[0].request, before, revision)
                self.model.apply(prediction.changes, revision)
                self.producer_of[revision] = revoke[0]
                continue
            model_before = self.model.snapshot(before)
            candidates = revokes.get(revision, []) + [
                op for op in ambiguous if op.op_id not in applied and op.floor < revision]
            for op in candidates:
                if op.kind not in ("put", "delete", "txn", "lease_revoke"):
                    continue
                prediction = self.model.predict(op.request, before, revision)
                if not prediction.changes:
                    continue
                after = dict(model_before)
                after.update(prediction.changes)
                after = {k: v for k, v in after.items() if v is not None}
                if after == server_state:
                    if op.outcome == "ambiguous":
                        applied.add(op.op_id)
                    self.model.apply(prediction.changes, revision)
                    self.producer_of[revision] = op
                    break
            else:
                raise Unexplained(
                    f"revision {revision} (current {current}) is explained by no acknowledged or "
                    f"in-flight call; server at {revision} vs model at {before}:\n"
                    f"{describe_diff(model_before, server_state)}\n  candidates: {candidates}")

    def _check_unchanging_answers(self, acked, current):
        problems = []
        for op in acked:
            if self.producer_of.get(op.revision) is op:
                continue
            if op.kind in ("put", "lease_grant", "compact"):
                continue
            if op.kind == "lease_revoke":
                keys = self.model.lease_keys(op.request["lease"], op.revision)
                if keys:
                    problems.append(f"lease revoked at revision {op.revision} without a revision "
                                    f"of its own still had keys {keys}: {op}")
                self.counts["unchanging answers checked"] += 1
                continue
            if self._changes_something(op):
                continue   # already reported as a clash
            prediction = self.model.predict(op.request, op.revision, op.revision + 1)
            problems += self._answer_problems(op, prediction, op.revision)
            if prediction.changes and op.kind != "range":
                problems.append(f"answered as changing nothing at revision {op.revision}, the "
                                f"model would change {sorted(prediction.changes)}: {op}")
            self.counts["unchanging answers checked"] += 1
        return problems

    # ------------------------------------------------------------------ compaction

    def _check_compaction(self, ops, server):
        problems = []
        compacts = [op for op in ops if op.kind == "compact"]
        for op in compacts:
            if op.outcome == "acked":
                self.compacted_at = max(self.compacted_at, op.request["revision"])
        unsure = sorted((op.request["revision"] for op in compacts if op.outcome == "ambiguous"
                         and op.request["revision"] > self.compacted_at), reverse=True)
        for target in unsure:
            if server.is_compacted(target - 1):
                self.compacted_at = target
                self.counts["lost-answer compactions applied"] += 1
                break
            self.counts["lost-answer compactions not applied"] += 1
        if self.compacted_at >= 2:
            self.counts["reads below the compaction revision"] += 1
            error = server.range_error(self.compacted_at - 1)
            if error is None or COMPACTED not in error[1]:
                problems.append(f"a Range at {self.compacted_at - 1}, below the compaction "
                                f"revision {self.compacted_at}, answered {error or 'with data'}, "
                                f"expected {COMPACTED!r}")
        return problems

    def _check_past_revisions(self, current, server):
        problems = []
        low = max(self.compacted_at, 1)
        # Every revision of the round's last stretch (what a crash most threatens), plus a few
        # anywhere since the compaction.
        picks = set(range(max(low, current - TAIL_REVISIONS), current))
        picks |= set(self.rng.randint(low, current) for _ in range(3)) | {low}
        for revision in sorted(picks):
            state = server.state_at(revision)
            self.counts["past revisions compared"] += 1
            if state is None:
                problems.append(f"a Range at revision {revision} failed, above the compaction "
                                f"revision {self.compacted_at}")
                continue
            model = self.model.snapshot(revision)
            if state != model:
                problems.append(f"key space at past revision {revision} differs from the "
                                f"model:\n{describe_diff(model, state)}")
        return problems

    # ------------------------------------------------------------------ leases

    def _check_leases(self, ops, applied, server, shared):
        problems = []
        unsure = {}
        touched = set()
        for op in sorted(ops, key=lambda op: op.op_id):   # a lease's grant before its revoke
            lease = op.request.get("lease") if op.kind in ("lease_grant", "lease_revoke") else None
            if lease is None:
                continue
            touched.add(lease)
            if op.kind == "lease_grant":
                if op.outcome == "acked":
                    if op.answer.ID != lease or op.answer.TTL != op.request["ttl"]:
                        problems.append(f"lease grant answered ID {op.answer.ID} TTL "
                                        f"{op.answer.TTL}: {op}")
                    self.live_leases[lease] = (op.request["ttl"], op.sent_at)
                elif op.outcome == "ambiguous":
                    unsure[lease] = op
            elif op.outcome == "acked" or op.op_id in applied:
                self.live_leases.pop(lease, None)
                self.revoked_leases.add(lease)
            elif op.outcome == "ambiguous":
                unsure[lease] = op
        listed = server.lease_ids()
        now = time.monotonic()
        for lease, op in unsure.items():
            info = server.lease_info(lease)
            if op.kind == "lease_grant":
                if info is not None:
                    self.live_leases[lease] = (op.request["ttl"], op.sent_at)
                self.counts[f"lost-answer grants {'applied' if info else 'not applied'}"] += 1
            else:
                if info is None:
                    self.live_leases.pop(lease, None)
                    self.revoked_leases.add(lease)
                self.counts[f"lost-answer revokes of key-less leases "
                            f"{'not applied' if info else 'applied'}"] += 1
        others = sorted(set(self.live_leases) - touched)
        sample = touched | set(self.rng.sample(others, min(20, len(others))))
        revoked_sample = sorted(self.revoked_leases)
        sample |= set(self.rng.sample(revoked_sample, min(10, len(revoked_sample))))
        for lease in sorted(sample):
            info = server.lease_info(lease)
            self.counts["leases checked"] += 1
            if lease in self.live_leases:
                ttl, granted_at = self.live_leases[lease]
                if info is None:
                    if now - granted_at > ttl:
                        self.live_leases.pop(lease)
                        continue
                    problems.append(f"lease {lease} (TTL {ttl}) is gone after restart, never "
                                    f"revoked")
                    continue
                remaining, granted, keys = info
                expected_keys = self.model.lease_keys(lease)
                if granted != ttl or not 0 < remaining <= ttl or keys != expected_keys:
                    problems.append(f"lease {lease}: TTL {remaining}, granted TTL {granted}, keys "
                                    f"{keys}; expected granted TTL {ttl}, 0 < TTL <= {ttl}, keys "
                                    f"{expected_keys}")
            else:
                if info is not None:
                    problems.append(f"revoked lease {lease} exists after restart: {info}")
                if self.model.lease_keys(lease):
                    problems.append(f"revoked lease {lease} still has keys in the model: "
                                    f"{self.model.lease_keys(lease)} (its revocation took no "
                                    f"revision)")
        self.counts["lease lists compared"] += 1
        kept = set(self.live_leases)
        if listed != kept:
            problems.append(f"LeaseLeases lists {len(listed)} leases, the model has {len(kept)}: "
                            f"missing {sorted(kept - listed)[:10]}, "
                            f"extra {sorted(listed - kept)[:10]}")
        with shared.lock:
            shared.lease_pool = dict(self.live_leases)
            shared.revoking = set(self.revoked_leases)
        return problems
