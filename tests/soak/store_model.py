"""An exact in-memory model of one etcd v3 key space, for checking a server against it.

The model holds, per key, every version the key has had (value, create and mod revision, version,
lease; a deletion is a tombstone), so the key space at any revision since the first can be read
back. It follows etcd 3.4's rules:
  * a Put always takes a new revision; a key's version counts puts since it was (re)created;
  * a DeleteRange that deletes nothing, a Txn whose chosen branch changes nothing, and a
    LeaseRevoke of a lease without keys take no revision;
  * every change of one request shares the request's single revision;
  * a Txn compare against a missing key compares a zero key-value (version, revisions and
    lease 0), except a VALUE compare, which is false.

Operations are plain dicts built by the workload (see crash_workload.Op.request):
  {"kind": "put", "key", "value", "lease", "prev_kv"}
  {"kind": "delete", "key", "range_end", "prev_kv"}
  {"kind": "range", "key", "range_end"}
  {"kind": "txn", "compares": [(key, target, result, operand)], "success": [...], "failure": [...]}
      with branch ops {"kind": "put"|"delete"|"range", ...} as above
  {"kind": "lease_revoke", "lease"}
predict() tells what an operation does to the key space as it stands at a revision, and what the
server should answer; apply() records the changes of the next revision. Keys are bytes; a
range_end of b"" means the single key. Not thread-safe: the checker owns it.
"""

import bisect
from collections import namedtuple

# One version of a key, as a Range answers it.
KeyVersion = namedtuple("KeyVersion", "value create_revision mod_revision version lease")

# What an operation does at one revision: changes (key -> KeyVersion, or None for a deletion),
# whether a Txn took its success branch, and the answers the server should give:
# a list with one entry per (branch) op: ("put", prev KeyVersion or None),
# ("delete", [(key, KeyVersion) deleted]), ("range", [(key, KeyVersion)]).
Prediction = namedtuple("Prediction", "changes succeeded answers")

COMPARE_TARGETS = ("version", "create", "mod", "value")   # etcd's Compare.CompareTarget order
COMPARE_RESULTS = ("equal", "greater", "less", "not_equal")  # etcd's Compare.CompareResult order


def in_range(key, start, range_end):
    if not range_end:
        return key == start
    if range_end == b"\0":
        return key >= start
    return start <= key < range_end


class StoreModel:
    """The key space after every revision from 1 (empty) to `revision`."""

    def __init__(self):
        self.revision = 1
        self._history = {}     # key -> ([revisions], [KeyVersion or None]) in revision order

    # ------------------------------------------------------------------ reading

    def get(self, key, at_revision=None):
        """The key's version at `at_revision` (default: the latest), None if absent then."""
        entry = self._history.get(key)
        if entry is None:
            return None
        revisions, versions = entry
        at = self.revision if at_revision is None else at_revision
        i = bisect.bisect_right(revisions, at)
        return versions[i - 1] if i else None

    def range(self, key, range_end, at_revision=None):
        """[(key, KeyVersion)] of the live keys in [key, range_end) at a revision, sorted."""
        return [(k, kv) for k in sorted(self._history)
                if in_range(k, key, range_end)
                for kv in [self.get(k, at_revision)] if kv is not None]

    def snapshot(self, at_revision=None):
        """{key: KeyVersion} of every live key at a revision (default: the latest)."""
        return dict(self.range(b"\0", b"\0", at_revision))

    def lease_keys(self, lease, at_revision=None):
        return sorted(k for k, kv in self.range(b"\0", b"\0", at_revision) if kv.lease == lease)

    # ------------------------------------------------------------------ predicting

    def predict(self, op, at_revision, new_revision):
        """What `op` does when applied to the key space at `at_revision`, its changes taking
        `new_revision`."""
        overlay = {}

        def current(key):
            return overlay[key] if key in overlay else self.get(key, at_revision)

        def live_in(key, range_end):
            keys = set(k for k in self._history if in_range(k, key, range_end))
            keys |= set(k for k in overlay if in_range(k, key, range_end))
            return [(k, kv) for k in sorted(keys) for kv in [current(k)] if kv is not None]

        def put(o):
            prev = current(o["key"])
            overlay[o["key"]] = KeyVersion(
                o["value"], prev.create_revision if prev else new_revision, new_revision,
                prev.version + 1 if prev else 1, o.get("lease", 0))
            return ("put", prev)

        def delete(o):
            gone = live_in(o["key"], o.get("range_end", b""))
            for k, _ in gone:
                overlay[k] = None
            return ("delete", gone)

        def read(o):
            return ("range", live_in(o["key"], o.get("range_end", b"")))

        handlers = {"put": put, "delete": delete, "range": read}
        kind = op["kind"]
        if kind in handlers:
            answers = [handlers[kind](op)]
            succeeded = None
        elif kind == "txn":
            succeeded = all(self._compare(c, current) for c in op["compares"])
            answers = [handlers[o["kind"]](o) for o in op["success" if succeeded else "failure"]]
        elif kind == "lease_revoke":
            for k, kv in live_in(b"\0", b"\0"):
                if kv.lease == op["lease"]:
                    overlay[k] = None
            answers, succeeded = [], None
        else:
            raise ValueError(f"the model has no rule for {kind}")
        # A deletion of a key that was not there changes nothing.
        changes = {k: v for k, v in overlay.items()
                   if not (v is None and self.get(k, at_revision) is None)}
        return Prediction(changes, succeeded, answers)

    @staticmethod
    def _compare(compare, current):
        key, target, result, operand = compare
        kv = current(key)
        if kv is None:
            if target == "value":
                return False
            kv = KeyVersion(b"", 0, 0, 0, 0)
        mine = {"version": kv.version, "create": kv.create_revision,
                "mod": kv.mod_revision, "value": kv.value}[target]
        order = (mine > operand) - (mine < operand)
        return {"equal": order == 0, "not_equal": order != 0,
                "greater": order > 0, "less": order < 0}[result]

    # ------------------------------------------------------------------ applying

    def apply(self, changes, revision):
        """Records `changes` as revision `revision`, which must be the next one."""
        if revision != self.revision + 1:
            raise ValueError(f"revision {revision} applied after {self.revision}")
        for key, kv in changes.items():
            revisions, versions = self._history.setdefault(key, ([], []))
            revisions.append(revision)
            versions.append(kv)
        self.revision = revision
