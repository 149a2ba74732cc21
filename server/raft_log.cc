#include "server/raft_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "raft/raw_node.h"

namespace cairn::server {

wal::Record EntryToRecord(const cairnpb::Entry& entry) {
  wal::Record record;
  record.type = wal::RecordType::kEntry;
  record.term = entry.term();
  record.index = entry.index();
  if (entry.type() == cairnpb::ENTRY_CONF_CHANGE) {
    cairnpb::LogRequest wrapped;
    wrapped.mutable_conf_change()->ParseFromString(entry.data());
    wrapped.SerializeToString(&record.payload);
  } else {
    record.payload = entry.data();
  }
  return record;
}

absl::StatusOr<cairnpb::Entry> RecordToEntry(const wal::Record& record) {
  cairnpb::Entry entry;
  entry.set_term(record.term);
  entry.set_index(record.index);
  entry.set_type(cairnpb::ENTRY_NORMAL);
  // Only a conf change needs decoding here; checking for its field first keeps the common case cheap.
  cairnpb::LogRequest request;
  if (record.payload.find('\x52') != std::string::npos) {  // tag of field 10 (conf_change), wire type 2
    if (!request.ParseFromString(record.payload)) {
      return absl::DataLossError(absl::StrCat("cairn: log entry ", record.index, " does not decode"));
    }
  }
  if (request.has_conf_change()) {
    entry.set_type(cairnpb::ENTRY_CONF_CHANGE);
    request.conf_change().SerializeToString(entry.mutable_data());
  } else {
    entry.set_data(record.payload);
  }
  return entry;
}

wal::Record HardStateToRecord(const cairnpb::HardState& hard_state) {
  wal::Record record;
  record.type = wal::RecordType::kHardState;
  record.term = hard_state.term();
  record.index = 0;
  hard_state.SerializeToString(&record.payload);
  return record;
}

std::vector<wal::Record> CommittedRecords(const std::vector<cairnpb::Entry>& entries,
                                          const cairnpb::HardState& hard_state) {
  std::vector<wal::Record> records;
  records.reserve(entries.size() + 1);
  for (const cairnpb::Entry& e : entries) records.push_back(EntryToRecord(e));
  records.push_back(HardStateToRecord(hard_state));
  return records;
}

absl::StatusOr<RecoveredLog> RecoverLog(const std::vector<wal::Record>& records, const StorePoint& store,
                                        const std::vector<cairnpb::MemberRecord>& founders) {
  RecoveredLog out;
  bool have_hard_state = false;
  bool any_entry = false;
  const uint64_t applied = store.applied_index;
  uint64_t snapshot_index = 0, snapshot_term = 0;
  for (const wal::Record& record : records) {
    if (record.type == wal::RecordType::kSnapshot) {
      // Each segment repeats the latest marker at its head: only a new marker means anything.
      if (record.index == snapshot_index && record.term == snapshot_term) continue;
      snapshot_index = record.index;
      snapshot_term = record.term;
      if (record.index > applied) {
        return absl::DataLossError(absl::StrCat("cairn: the log says a store image at index ", record.index,
                                                " was installed, but the store is at ", applied));
      }
      // Entries logged before the image was installed are superseded by it.
      out.entries.clear();
      any_entry = true;
      continue;
    }
    if (record.type == wal::RecordType::kHardState) {
      if (!out.hard_state.ParseFromString(record.payload)) {
        return absl::DataLossError("cairn: a hard state record in the log does not decode");
      }
      have_hard_state = true;
      continue;
    }
    if (record.type != wal::RecordType::kEntry) continue;
    any_entry = true;
    if (record.index <= applied) continue;
    // A record for an index already seen replaces it and everything after it (log truncation).
    while (!out.entries.empty() && out.entries.back().index() >= record.index) out.entries.pop_back();
    const uint64_t expected = out.entries.empty() ? applied + 1 : out.entries.back().index() + 1;
    if (record.index != expected) {
      return absl::DataLossError(absl::StrCat("cairn: the log skips from index ", expected - 1, " to ",
                                              record.index, "; refusing to start on a log with a gap"));
    }
    auto entry = RecordToEntry(record);
    if (!entry.ok()) return entry.status();
    out.entries.push_back(std::move(*entry));
  }

  if (!have_hard_state && !any_entry && applied == 0 && !store.has_membership) {
    // A new member of a new cluster: the founding membership becomes the first log entries.
    if (founders.empty()) return out;  // joining an existing cluster: the leader sends the log
    std::vector<uint64_t> ids;
    for (const auto& m : founders) ids.push_back(m.id());
    raft::BootstrapState founding = raft::BootstrapLog(ids);
    for (cairnpb::Entry& e : founding.entries) {
      cairnpb::ConfChange change;
      change.ParseFromString(e.data());
      for (const auto& m : founders) {
        if (m.id() == change.node_id()) m.SerializeToString(change.mutable_context());
      }
      change.SerializeToString(e.mutable_data());
    }
    out.entries = std::move(founding.entries);
    out.hard_state = founding.hard_state;
    out.founded = true;
    return out;
  }

  const uint64_t last = out.entries.empty() ? applied : out.entries.back().index();
  if (!have_hard_state && !store.has_membership) {
    // Written by a single-member cairnd before replication: it acknowledged each entry once it was
    // durable, so everything logged is committed.
    out.single_member_upgrade = true;
    uint64_t term = std::max<uint64_t>(store.applied_term, 1);
    for (const auto& e : out.entries) term = std::max(term, e.term());
    out.hard_state.set_term(term);
    out.hard_state.set_commit(last);
    return out;
  }
  // The store may be ahead of the logged commit (a snapshot installed, or commit not yet re-logged).
  out.hard_state.set_commit(std::min(std::max(out.hard_state.commit(), applied), std::max(last, applied)));
  return out;
}

}  // namespace cairn::server
