// cairn::server corruption rules — the decisions of etcd 3.4's two corruption checks, as pure
// functions of hashes already gathered (the gathering and the timing live in corruption_check.h).
//
// A "hash" is the store's etcd HashKV (mvcc::Store::HashKV): members that applied the same log
// agree on it at the same revision, whatever their physical compaction progress. Two hashes at
// one revision are comparable only when both stores were compacted to the same revision.
//
// Both functions are pure and thread-compatible; no errors beyond what they return.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn::server {

// One store's HashKV and the revisions it was taken at.
struct HashSample {
  uint32_t hash = 0;
  int64_t revision = 0;          // the revision hashed
  int64_t compact_revision = 0;  // the store's compacted revision then (-1: never compacted)
};

// What asking one peer for its hash at a revision gave.
struct PeerHashAnswer {
  uint64_t member_id = 0;
  // False when the peer could not be asked or could not hash at that revision (unreachable,
  // behind, compacted past it): such a peer is skipped, never counted as corrupt.
  bool answered = false;
  std::string error;  // why not, when !answered (for the log)
  uint32_t hash = 0;
  int64_t hash_revision = 0;
  int64_t compact_revision = 0;
  int64_t current_revision = 0;  // the peer's current revision when it answered
};

// --experimental-initial-corrupt-check: a restarting member compared its hash (`local`, at its
// current revision) with every peer's at that revision. Fails (FailedPrecondition) when a peer
// that answered at local.revision, with the same compacted revision, has a different hash; the
// message names this member, each such peer and both hashes. Peers that did not answer, answered
// at another revision, or are compacted differently are skipped; each skip is described in
// *skipped (may be null).
absl::Status DecideInitialCheck(uint64_t self_id, const HashSample& local, const std::vector<PeerHashAnswer>& peers,
                                std::vector<std::string>* skipped);

// What one periodic check found.
struct PeriodicVerdict {
  bool corrupt = false;
  uint64_t member_id = 0;  // the member the CORRUPT alarm is raised for, when corrupt
  std::string reason;      // why, for the log
  int peers_checked = 0;   // peers that answered
};

// --experimental-corrupt-check-time, on the leader. `before` is the leader's hash at its current
// revision taken before asking the peers (they were asked for before.revision); `after` is its
// hash at its current revision again after a linearizable read barrier, so every peer's answer
// is at most `after`'s revisions unless the peer diverged. The first of etcd's rules that fires
// decides the alarm's member (one alarm per check):
//   - the leader's own hash changed at an unchanged revision and compaction: the leader;
//   - a peer reports a current revision above after.revision: that peer;
//   - a peer reports a compacted revision above after.compact_revision: that peer;
//   - a peer compacted to before.compact_revision reports a hash other than before.hash: that peer.
// Peers that did not answer (behind the leader, unreachable) are not judged.
PeriodicVerdict DecidePeriodicCheck(uint64_t self_id, const HashSample& before, const HashSample& after,
                                    const std::vector<PeerHashAnswer>& peers);

}  // namespace cairn::server
