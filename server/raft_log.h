// The raft log on disk and at start-up: how raft entries and hard state become WAL records, and how
// a member's raft state is rebuilt from the WAL and the store when it starts.
//
// The store is the snapshot: its applied index/term and membership record say where the log may
// begin. Entries above the applied index come from the WAL (a later record for an index replaces
// the earlier ones and everything after them, as raft's log truncation requires; a snapshot
// marker, written when a leader's store image was installed, supersedes every entry before it).
//
// Record payloads: a normal entry's payload is its data (a serialized cairnpb.LogRequest, empty for
// a leader's no-op); a membership change entry is stored as a LogRequest holding the ConfChange, so
// every entry record decodes as one type; hard state records hold a serialized cairnpb.HardState.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cairnpb/internal.pb.h"
#include "cairnpb/raft.pb.h"
#include "raft/wal/record.h"

namespace cairn::server {

wal::Record EntryToRecord(const cairnpb::Entry& entry);
absl::StatusOr<cairnpb::Entry> RecordToEntry(const wal::Record& record);
wal::Record HardStateToRecord(const cairnpb::HardState& hard_state);

// What the store says about the point the log resumes from.
struct StorePoint {
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  bool has_membership = false;  // false: a store written before replication (or empty)
  cairnpb::Membership membership;
};

struct RecoveredLog {
  cairnpb::HardState hard_state;
  std::vector<cairnpb::Entry> entries;  // contiguous, starting at the store's applied index + 1
  // True when this start created the founding log of a new group (entries 1..n, one membership
  // change per founding member): the caller must persist it before anything else.
  bool founded = false;
  // True for a data directory written by a single-member cairnd from before replication: every
  // logged entry was acknowledged, hence committed; the membership is this member alone.
  bool single_member_upgrade = false;
};

// Rebuilds the log from the WAL's `records` (in replay order) and the store's point. A data
// directory with no hard state and no entries founds a new group from `founders` (their records
// ride in the change contexts so every member learns names and peer URLs). DataLoss if the
// entries after the applied index do not follow on from it.
absl::StatusOr<RecoveredLog> RecoverLog(const std::vector<wal::Record>& records, const StorePoint& store,
                                        const std::vector<cairnpb::MemberRecord>& founders);

// What makes entries durable together with the hard state that commits them: the entries, then
// the hard state, to be written to the WAL and synced (a founded log, RecoveredLog::founded, before
// anything else; --force-new-cluster's membership changes).
std::vector<wal::Record> CommittedRecords(const std::vector<cairnpb::Entry>& entries,
                                          const cairnpb::HardState& hard_state);

}  // namespace cairn::server
