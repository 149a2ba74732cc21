#include "raft/log.h"

#include <algorithm>

#include "raft/check.h"

namespace cairn::raft {

uint64_t EntriesSize(const std::vector<cairnpb::Entry>& ents) {
  uint64_t total = 0;
  for (const auto& e : ents) total += e.ByteSizeLong();
  return total;
}

namespace {
void LimitSize(std::vector<cairnpb::Entry>* ents, uint64_t max_bytes) {
  if (ents->empty() || max_bytes == kNoLimit) return;
  uint64_t total = 0;
  size_t keep = 0;
  for (; keep < ents->size(); ++keep) {
    total += (*ents)[keep].ByteSizeLong();
    if (keep > 0 && total > max_bytes) break;
  }
  ents->resize(keep);
}
}  // namespace

// ---- UnstableLog ----

std::optional<uint64_t> UnstableLog::MaybeFirstIndex() const {
  if (snapshot) return snapshot->metadata().index() + 1;
  return std::nullopt;
}

std::optional<uint64_t> UnstableLog::MaybeLastIndex() const {
  if (!entries.empty()) return offset + entries.size() - 1;
  if (snapshot) return snapshot->metadata().index();
  return std::nullopt;
}

std::optional<uint64_t> UnstableLog::MaybeTerm(uint64_t i) const {
  if (i < offset) {
    if (snapshot && snapshot->metadata().index() == i) return snapshot->metadata().term();
    return std::nullopt;
  }
  if (entries.empty() || i > offset + entries.size() - 1) return std::nullopt;
  return entries[i - offset].term();
}

void UnstableLog::StableTo(uint64_t index, uint64_t term) {
  auto t = MaybeTerm(index);
  if (!t) return;
  // Only when the persisted entry is still the one we hold: a newer leader may have replaced it
  // while the caller was persisting.
  if (*t == term && index >= offset) {
    entries.erase(entries.begin(), entries.begin() + (index + 1 - offset));
    offset = index + 1;
  }
}

void UnstableLog::StableSnapshotTo(uint64_t index) {
  if (snapshot && snapshot->metadata().index() == index) snapshot.reset();
}

void UnstableLog::Restore(const cairnpb::Snapshot& s) {
  offset = s.metadata().index() + 1;
  entries.clear();
  snapshot = s;
}

void UnstableLog::TruncateAndAppend(std::vector<cairnpb::Entry> ents) {
  const uint64_t after = ents.front().index();
  if (after <= offset) {
    // Replaces everything unstable; the caller's storage will truncate on persist.
    offset = after;
    entries = std::move(ents);
    return;
  }
  if (after != offset + entries.size()) entries.resize(after - offset);
  entries.insert(entries.end(), std::make_move_iterator(ents.begin()), std::make_move_iterator(ents.end()));
}

void UnstableLog::AppendSliceTo(uint64_t lo, uint64_t hi, std::vector<cairnpb::Entry>* out) const {
  CAIRN_RAFT_CHECK(lo >= offset && hi <= offset + entries.size() && lo <= hi,
                   "unstable slice [%lu,%lu) out of [%lu,%lu)", (unsigned long)lo,
                   (unsigned long)hi, (unsigned long)offset,
                   (unsigned long)(offset + entries.size()));
  out->insert(out->end(), entries.begin() + (lo - offset), entries.begin() + (hi - offset));
}

// ---- RaftLog ----

RaftLog::RaftLog(const Storage* storage, uint64_t max_next_entries_bytes)
    : storage_(storage), max_next_entries_bytes_(max_next_entries_bytes) {
  auto first = storage_->FirstIndex();
  auto last = storage_->LastIndex();
  CAIRN_RAFT_CHECK(first.ok() && last.ok(), "storage cannot report its log bounds");
  unstable_.offset = *last + 1;
  // Everything up to the snapshot is committed and applied by definition.
  committed_ = *first - 1;
  applied_ = *first - 1;
}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  auto first = storage_->FirstIndex();
  CAIRN_RAFT_CHECK(first.ok(), "storage FirstIndex failed: %s", first.status().ToString().c_str());
  return *first;
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  auto last = storage_->LastIndex();
  CAIRN_RAFT_CHECK(last.ok(), "storage LastIndex failed: %s", last.status().ToString().c_str());
  return *last;
}

uint64_t RaftLog::LastTerm() const {
  auto t = Term(LastIndex());
  CAIRN_RAFT_CHECK(t.ok(), "term of the last entry is unknown");
  return *t;
}

absl::StatusOr<uint64_t> RaftLog::Term(uint64_t i) const {
  const uint64_t dummy = FirstIndex() - 1;
  if (i < dummy) return CompactedError();
  if (i > LastIndex()) return UnavailableError();
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  auto t = storage_->Term(i);
  if (t.ok() || IsCompactedError(t.status()) || IsUnavailableError(t.status())) return t;
  CAIRN_RAFT_CHECK(false, "storage Term failed: %s", t.status().ToString().c_str());
  return t;
}

uint64_t RaftLog::TermOrZero(uint64_t i) const {
  auto t = Term(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t term) const {
  auto t = Term(i);
  return t.ok() && *t == term;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t last_term) const {
  const uint64_t our_term = LastTerm();
  return last_term > our_term || (last_term == our_term && last_index >= LastIndex());
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t commit,
                                             const std::vector<cairnpb::Entry>& ents) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  const uint64_t last_new = index + ents.size();
  const uint64_t conflict = FindConflict(ents);
  if (conflict != 0) {
    CAIRN_RAFT_CHECK(conflict > committed_, "entry %lu conflicts with a committed entry (commit %lu)",
                     (unsigned long)conflict, (unsigned long)committed_);
    Append(std::vector<cairnpb::Entry>(ents.begin() + (conflict - (index + 1)), ents.end()));
  }
  // Only what this message proved we share with the leader may be committed.
  CommitTo(std::min(commit, last_new));
  return last_new;
}

uint64_t RaftLog::Append(std::vector<cairnpb::Entry> ents) {
  if (ents.empty()) return LastIndex();
  CAIRN_RAFT_CHECK(ents.front().index() > committed_, "append at %lu would overwrite commit %lu",
                   (unsigned long)ents.front().index(), (unsigned long)committed_);
  unstable_.TruncateAndAppend(std::move(ents));
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<cairnpb::Entry>& ents) const {
  for (const auto& e : ents) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  index = std::min(index, LastIndex());
  while (true) {
    auto t = Term(index);
    if (!t.ok()) return {index, 0};
    if (*t <= term) return {index, *t};
    if (index == 0) return {0, 0};
    --index;
  }
}

absl::StatusOr<std::vector<cairnpb::Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi,
                                                           uint64_t max_bytes) const {
  CAIRN_RAFT_CHECK(lo <= hi, "invalid slice %lu > %lu", (unsigned long)lo, (unsigned long)hi);
  if (lo < FirstIndex()) return CompactedError();
  CAIRN_RAFT_CHECK(hi <= LastIndex() + 1, "slice [%lu,%lu) beyond last index %lu",
                   (unsigned long)lo, (unsigned long)hi, (unsigned long)LastIndex());
  std::vector<cairnpb::Entry> out;
  if (lo == hi) return out;
  if (lo < unstable_.offset) {
    const uint64_t stored_hi = std::min(hi, unstable_.offset);
    auto stored = storage_->Entries(lo, stored_hi, max_bytes);
    if (!stored.ok()) {
      if (IsCompactedError(stored.status())) return stored.status();
      CAIRN_RAFT_CHECK(false, "storage Entries[%lu,%lu) failed: %s", (unsigned long)lo,
                       (unsigned long)stored_hi, stored.status().ToString().c_str());
    }
    out = std::move(*stored);
    // Storage stopped early because of the size limit: nothing more fits.
    if (out.size() < stored_hi - lo) return out;
  }
  if (hi > unstable_.offset) {
    unstable_.AppendSliceTo(std::max(lo, unstable_.offset), hi, &out);
  }
  LimitSize(&out, max_bytes);
  return out;
}

absl::StatusOr<std::vector<cairnpb::Entry>> RaftLog::EntriesFrom(uint64_t i,
                                                                 uint64_t max_bytes) const {
  if (i > LastIndex()) return std::vector<cairnpb::Entry>();
  return Slice(i, LastIndex() + 1, max_bytes);
}

std::vector<cairnpb::Entry> RaftLog::NextCommittedEntries() const {
  const uint64_t from = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 <= from) return {};
  auto ents = Slice(from, committed_ + 1, max_next_entries_bytes_);
  CAIRN_RAFT_CHECK(ents.ok(), "committed entries unavailable: %s",
                   ents.status().ToString().c_str());
  return std::move(*ents);
}

bool RaftLog::HasNextCommittedEntries() const {
  return committed_ + 1 > std::max(applied_ + 1, FirstIndex());
}

absl::StatusOr<cairnpb::Snapshot> RaftLog::Snapshot() const {
  if (unstable_.snapshot) return *unstable_.snapshot;
  return storage_->GetSnapshot();
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;  // commit never moves backwards
  CAIRN_RAFT_CHECK(index <= LastIndex(), "commit %lu beyond last index %lu", (unsigned long)index,
                   (unsigned long)LastIndex());
  committed_ = index;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  CAIRN_RAFT_CHECK(index <= committed_ && index >= applied_,
                   "applied %lu outside [applied %lu, committed %lu]", (unsigned long)index,
                   (unsigned long)applied_, (unsigned long)committed_);
  applied_ = index;
}

void RaftLog::Restore(const cairnpb::Snapshot& s) {
  committed_ = s.metadata().index();
  unstable_.Restore(s);
}

}  // namespace cairn::raft
