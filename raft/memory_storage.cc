#include "raft/memory_storage.h"

#include <utility>

namespace cairn::raft {

MemoryStorage::MemoryStorage() { entries_.emplace_back(); }

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  absl::ReaderMutexLock lock(&mu_);
  return InitialState{hard_state_, snapshot_.metadata().conf_state()};
}

uint64_t MemoryStorage::FirstIndexLocked() const { return entries_[0].index() + 1; }
uint64_t MemoryStorage::LastIndexLocked() const {
  return entries_[0].index() + entries_.size() - 1;
}

absl::StatusOr<std::vector<cairnpb::Entry>> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                                   uint64_t max_bytes) const {
  absl::ReaderMutexLock lock(&mu_);
  const uint64_t offset = entries_[0].index();
  if (lo <= offset) return CompactedError();
  if (hi > LastIndexLocked() + 1) return UnavailableError();
  std::vector<cairnpb::Entry> out;
  uint64_t total = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const cairnpb::Entry& e = entries_[i - offset];
    total += e.ByteSizeLong();
    if (!out.empty() && total > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::Term(uint64_t i) const {
  absl::ReaderMutexLock lock(&mu_);
  const uint64_t offset = entries_[0].index();
  if (i < offset) return CompactedError();
  if (i - offset >= entries_.size()) return UnavailableError();
  return entries_[i - offset].term();
}

absl::StatusOr<uint64_t> MemoryStorage::FirstIndex() const {
  absl::ReaderMutexLock lock(&mu_);
  return FirstIndexLocked();
}

absl::StatusOr<uint64_t> MemoryStorage::LastIndex() const {
  absl::ReaderMutexLock lock(&mu_);
  return LastIndexLocked();
}

absl::StatusOr<cairnpb::Snapshot> MemoryStorage::GetSnapshot() const {
  absl::ReaderMutexLock lock(&mu_);
  return snapshot_;
}

void MemoryStorage::SetHardState(const cairnpb::HardState& hs) {
  absl::MutexLock lock(&mu_);
  hard_state_ = hs;
}

cairnpb::HardState MemoryStorage::hard_state() const {
  absl::ReaderMutexLock lock(&mu_);
  return hard_state_;
}

absl::Status MemoryStorage::Append(std::vector<cairnpb::Entry> entries) {
  if (entries.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  const uint64_t first = FirstIndexLocked();
  const uint64_t last_new = entries.back().index();
  if (last_new < first) return absl::OkStatus();  // all already covered by the snapshot
  size_t skip = 0;
  if (entries[0].index() < first) skip = first - entries[0].index();
  const uint64_t start = entries[skip].index();
  if (start > LastIndexLocked() + 1) {
    return absl::InvalidArgumentError("raft: appended entries leave a gap in the log");
  }
  entries_.resize(start - entries_[0].index());  // drop the conflicting suffix, if any
  entries_.insert(entries_.end(), std::make_move_iterator(entries.begin() + skip),
                  std::make_move_iterator(entries.end()));
  return absl::OkStatus();
}

absl::Status MemoryStorage::ApplySnapshot(const cairnpb::Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  if (snapshot.metadata().index() < snapshot_.metadata().index()) {
    return absl::FailedPreconditionError("raft: snapshot is older than the one held");
  }
  snapshot_ = snapshot;
  entries_.clear();
  cairnpb::Entry dummy;
  dummy.set_index(snapshot.metadata().index());
  dummy.set_term(snapshot.metadata().term());
  entries_.push_back(std::move(dummy));
  return absl::OkStatus();
}

absl::StatusOr<cairnpb::Snapshot> MemoryStorage::CreateSnapshot(uint64_t index,
                                                                const cairnpb::ConfState& cs,
                                                                std::string data) {
  absl::MutexLock lock(&mu_);
  if (index <= snapshot_.metadata().index()) return CompactedError();
  if (index > LastIndexLocked()) {
    return absl::InvalidArgumentError("raft: snapshot index is beyond the last log index");
  }
  const uint64_t offset = entries_[0].index();
  snapshot_.mutable_metadata()->set_index(index);
  snapshot_.mutable_metadata()->set_term(entries_[index - offset].term());
  *snapshot_.mutable_metadata()->mutable_conf_state() = cs;
  snapshot_.set_data(std::move(data));
  return snapshot_;
}

absl::Status MemoryStorage::Compact(uint64_t compact_index) {
  absl::MutexLock lock(&mu_);
  const uint64_t offset = entries_[0].index();
  if (compact_index <= offset) return CompactedError();
  if (compact_index > LastIndexLocked()) {
    return absl::InvalidArgumentError("raft: compaction index is beyond the last log index");
  }
  const uint64_t keep_from = compact_index - offset;
  cairnpb::Entry dummy;
  dummy.set_index(entries_[keep_from].index());
  dummy.set_term(entries_[keep_from].term());
  std::vector<cairnpb::Entry> kept;
  kept.reserve(entries_.size() - keep_from);
  kept.push_back(std::move(dummy));
  for (size_t i = keep_from + 1; i < entries_.size(); ++i) kept.push_back(std::move(entries_[i]));
  entries_ = std::move(kept);
  return absl::OkStatus();
}

}  // namespace cairn::raft
