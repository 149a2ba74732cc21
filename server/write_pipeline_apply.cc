// WritePipeline: applying committed log entries to the store, one LMDB write transaction per
// batch (membership changes, member attributes, alarms and auth revisions included), then telling
// the observers and answering this member's own waiting writes.
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/auth/auth_state.h"
#include "server/errors.h"
#include "server/membership.h"
#include "server/raft_log.h"
#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

using Clock = std::chrono::steady_clock;

// The proposal id of a serialized LogRequest without decoding it: protobuf writes fields in number
// order, so a non-zero proposal_id (field 1, varint) comes first. 0 when there is none.
uint64_t PeekProposalId(const std::string& data) {
  if (data.empty() || static_cast<uint8_t>(data[0]) != 0x08) return 0;
  uint64_t value = 0;
  for (size_t i = 1, shift = 0; i < data.size() && shift < 64; ++i, shift += 7) {
    const uint8_t b = static_cast<uint8_t>(data[i]);
    value |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return value;
  }
  return 0;
}

}  // namespace

void WritePipeline::ApplyEntries(const std::vector<cairnpb::Entry>& entries) {
  if (entries.empty()) return;
  const uint64_t applied_before = store_->AppliedIndex();
  if (entries.back().index() <= applied_before) return;
  const Clock::time_point apply_start = Clock::now();
  std::unique_ptr<mvcc::WriteBatch> txn = store_->BeginWrite();
  if (txn == nullptr) {
    return Fail("the store cannot start a write transaction", absl::UnavailableError("BeginWrite"));
  }
  const bool events_wanted = observers_.on_events && (!observers_.wants_events || observers_.wants_events());
  txn->set_record_events(events_wanted);
  struct Answer {
    PendingWrite write;
    absl::Status status;
  };
  std::vector<Answer> answers;
  answers.reserve(entries.size());  // most entries are this member's own writes
  std::vector<LeaseChange> lease_changes;
  std::vector<int64_t> compactions;
  bool membership_changed = false;
  bool auth_changed = false;
  bool alarms_changed = false;
  std::vector<PendingConfChange> applied_conf_changes;
  bool own_term_applied = false;
  uint64_t last_index = 0, last_term = 0;
  // Copied only when the batch changes it or it is needed below: most batches hold no membership
  // entry, and copying the record every round showed in single-client profiles.
  std::optional<cairnpb::Membership> membership_copy;
  auto membership = [&]() -> cairnpb::Membership& {
    if (!membership_copy) {
      std::lock_guard<std::mutex> lock(mu_);
      membership_copy = membership_;
    }
    return *membership_copy;
  };
  for (const cairnpb::Entry& e : entries) {
    if (e.index() <= applied_before) continue;
    last_index = e.index();
    last_term = e.term();
    if (is_leader_ && e.term() == term_.load()) own_term_applied = true;
    if (e.type() == cairnpb::ENTRY_CONF_CHANGE) {
      cairnpb::ConfChange change;
      if (!change.ParseFromString(e.data())) {
        return Fail(absl::StrCat("membership change at index ", e.index(), " does not decode"),
                    absl::DataLossError("conf change"));
      }
      if (node_ != nullptr) node_->ApplyConfChange(change);
      ApplyConfChangeToMembership(change, &membership());
      membership_changed = true;
      for (auto it = conf_changes_.begin(); it != conf_changes_.end(); ++it) {
        if (it->change.node_id() == change.node_id() && it->change.type() == change.type()) {
          applied_conf_changes.push_back(std::move(*it));
          conf_changes_.erase(it);
          break;
        }
      }
      continue;
    }
    if (e.data().empty()) continue;  // a new leader's no-op
    const uint64_t id = PeekProposalId(e.data());
    auto mine = id != 0 ? proposed_.find(id) : proposed_.end();
    absl::Status status;
    if (mine != proposed_.end()) {
      PendingWrite w = std::move(mine->second.write);
      proposed_.erase(mine);
      status = ApplyChecked(txn.get(), w.request, e.term(), w.response, &lease_changes, &alarms_changed);
      if (status.ok() && w.request.has_compaction()) compactions.push_back(w.request.compaction().revision());
      if (status.ok() && w.request.has_auth()) {
        auth_changed = true;
        if (auto s = LoadAuthRevision(txn.get()); !s.ok()) return Fail("auth state read", s);
      }
      answers.push_back(Answer{std::move(w), status});
    } else {
      cairnpb::LogRequest request;
      if (!request.ParseFromString(e.data())) {
        return Fail(absl::StrCat("log entry ", e.index(), " does not decode"), absl::DataLossError("entry"));
      }
      if (request.has_member_attributes()) {
        ApplyMemberAttributes(request.member_attributes(), &membership());
        membership_changed = true;
        continue;
      }
      // A request that failed on the member that proposed it fails the same way here: same store,
      // same order.
      status = ApplyChecked(txn.get(), request, e.term(), nullptr, &lease_changes, &alarms_changed);
      if (status.ok() && request.has_auth()) {
        auth_changed = true;
        if (auto s = LoadAuthRevision(txn.get()); !s.ok()) return Fail("auth state read", s);
      }
      if (status.ok() && request.has_compaction()) {
        compactions.push_back(request.compaction().revision());
        compaction_pending_ = true;
      }
    }
  }
  if (last_index == 0) return;
  if (membership_changed) {
    if (auto s = txn->SetMembership(membership().SerializeAsString()); !s.ok()) return Fail("membership write", s);
  }
  if (alarms_changed) {
    if (auto s = txn->SetAlarms(alarms_.Encode()); !s.ok()) return Fail("alarm write", s);
  }
  txn->SetApplied(last_index, last_term);
  const Clock::time_point commit_start = Clock::now();
  absl::Status committed = txn->Commit();
  const Clock::time_point commit_end = Clock::now();
  if (options_.backend_commit_seconds != nullptr) {
    options_.backend_commit_seconds->Observe(std::chrono::duration<double>(commit_end - commit_start).count());
  }
  if (commit_end - apply_start > std::chrono::milliseconds(100)) slow_applies_.fetch_add(1, std::memory_order_relaxed);
  if (!committed.ok()) {
    // The entries are in the log, so a restart will apply them; the store is what failed.
    for (Answer& a : answers) a.write.done(absl::UnavailableError("cairn: store commit failed"));
    return Fail("store commit failed", committed);
  }
  writes_.fetch_add(answers.size(), std::memory_order_relaxed);
  if (alarms_changed) PublishAlarms();
  // The quota is the receiving member's check (before proposing), but writes received by other
  // members (with a larger quota), or a burst accepted between two commits, can still take this
  // store well past it, towards a full map: then this member raises its own NOSPACE alarm through
  // the log, as a refused put would. (Not at the quota itself: deletes may go a little past it.)
  if (node_ != nullptr && store_->NearMapLimit()) RaiseNoSpace(nullptr);
  if (membership_changed) {
    std::lock_guard<std::mutex> lock(mu_);
    membership_ = membership();
  }
  // The watch hub (which queues the batch for its own fan-out thread, in log order) and the lessor
  // learn of the batch before its writers are answered.
  if (observers_.on_events && txn->changed_keys()) observers_.on_events(txn->TakeEvents(), events_wanted, txn->revision());
  if (observers_.on_lease_change) {
    for (const LeaseChange& change : lease_changes) observers_.on_lease_change(change);
  }
  if (observers_.on_compacted) {
    for (int64_t rev : compactions) observers_.on_compacted(rev);
  }
  // Before the writers are answered: a client that changed auth sees its change on its next call.
  if (auth_changed && observers_.on_auth_changed) observers_.on_auth_changed();
  HeaderInfo header = options_.header;
  header.raft_term_source = &term_;
  for (Answer& a : answers) {
    PendingWrite& w = a.write;
    if (a.status.ok() && w.header != nullptr) StampHeader(header, w.header);
    if (a.status.ok() && w.request.has_compaction()) {
      compaction_pending_ = true;
      if (w.request.compaction().physical()) {
        awaiting_compaction_.push_back(std::move(w));
        continue;
      }
    }
    // Answered once the round is released (see Deliver), so the next round's fdatasync can run
    // while these replies go out.
    answers_.emplace_back(std::move(w.done), a.status);
  }
  if (membership_changed) {
    single_voter_ = Voters(membership()) == std::vector<uint64_t>{options_.header.member_id};
    local_reads_.store(leader_ready_ && single_voter_, std::memory_order_release);
    if (hooks_.on_membership) hooks_.on_membership(membership());
    // Before the change is answered: the membership-change rules see the new member's progress.
    if (node_ != nullptr) PublishProgress();
  }
  for (PendingConfChange& c : applied_conf_changes) c.done(absl::OkStatus());
  if (own_term_applied && !leader_ready_) SetLeaderReady(true);
  if (!published_self_) PublishSelfIfNeeded(Clock::now());
}

void WritePipeline::PublishSelfIfNeeded(Clock::time_point now) {
  if (node_ == nullptr || Leader() == 0) return;
  // Tell the cluster this member's name and client URLs (etcd's publish) once its record is in the
  // applied membership, until the record shows them: a proposal can be dropped (an election), and
  // other members count a member as started only once its name is recorded.
  cairnpb::MemberRecord known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const cairnpb::MemberRecord* record = FindMember(membership_, options_.header.member_id);
    if (record == nullptr) return;  // not applied yet: the change that added this member comes later
    known = *record;
  }
  if (known.name() == options_.self.name() &&
      std::equal(known.client_urls().begin(), known.client_urls().end(), options_.self.client_urls().begin(),
                 options_.self.client_urls().end())) {
    published_self_ = true;
    return;
  }
  if (last_publish_attempt_ != Clock::time_point() && now - last_publish_attempt_ < options_.request_timeout) return;
  last_publish_attempt_ = now;
  cairnpb::LogRequest publish;
  *publish.mutable_member_attributes() = options_.self;
  publish.mutable_member_attributes()->set_id(options_.header.member_id);
  (void)node_->Propose(publish.SerializeAsString());
}

absl::Status WritePipeline::ApplyChecked(mvcc::WriteBatch* batch, const cairnpb::LogRequest& request,
                                         uint64_t entry_term, google::protobuf::Message* response,
                                         std::vector<LeaseChange>* lease_changes, bool* alarms_changed) {
  if (request.leader_term() != 0 && request.leader_term() != entry_term) return ErrNotLeader();
  if (request.has_alarm()) {
    etcdserverpb::AlarmResponse scratch;
    auto* out = response != nullptr ? static_cast<etcdserverpb::AlarmResponse*>(response) : &scratch;
    if (ApplyAlarmRequest(request.alarm(), &alarms_, out)) {
      *alarms_changed = true;
      for (const auto& a : out->alarms()) {
        std::fprintf(stderr, "cairnd: alarm %s %s\n",
                     request.alarm().action() == etcdserverpb::AlarmRequest::ACTIVATE ? "raised:" : "disarmed:",
                     AlarmStatusText(a).c_str());
      }
    }
    // No header: etcd 3.4's Alarm answers carry none.
    return absl::OkStatus();
  }
  if (auto s = AlarmGate(alarms_.ActiveMask(), request); !s.ok()) return s;
  if (request.auth_revision() != 0 && request.auth_revision() < auth_revision_) return ErrAuthOldRevision();
  return ApplyLogRequest(batch, request, response, lease_changes);
}

absl::Status WritePipeline::LoadAuthRevision(mvcc::WriteBatch* batch) {
  auto blob = batch != nullptr ? batch->AuthState() : store_->AuthState();
  if (!blob.ok()) return blob.status();
  auto revision = auth::AuthRevisionOf(*blob);
  if (!revision.ok()) return revision.status();
  auth_revision_ = *revision;
  return absl::OkStatus();
}

}  // namespace cairn::server
