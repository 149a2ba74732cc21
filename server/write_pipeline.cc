#include "server/write_pipeline.h"

#include <cstdio>
#include <random>
#include <utility>

#include "server/errors.h"
#include "server/membership.h"
#include "server/raft_log.h"
#include "server/wait_for_outcome.h"

namespace cairn::server {
namespace {

using Clock = std::chrono::steady_clock;

// Committed entries applied in one store transaction at most (start-up catch-up).
constexpr size_t kApplyChunk = 4096;

// The pipeline whose round this thread is running, if any: a Submit from inside a round (a done
// callback that writes again) only queues, since the round in progress drains the queue.
thread_local const WritePipeline* driving = nullptr;

class DrivingScope {
 public:
  explicit DrivingScope(const WritePipeline* p) : previous_(driving) { driving = p; }
  ~DrivingScope() { driving = previous_; }

 private:
  const WritePipeline* previous_;
};
}  // namespace

WritePipeline::WritePipeline(wal::Wal* wal, mvcc::Store* store, Options options)
    : wal_(wal), store_(store), options_(std::move(options)) {
  last_index_ = store_->AppliedIndex();
  // Proposal ids start at a random point so that ids from different members never meet: an entry
  // whose id this member handed out is one of its own proposals.
  std::random_device random;
  next_proposal_id_ = ((static_cast<uint64_t>(random()) << 32) | random()) & ((uint64_t{1} << 62) - 1);
  if (next_proposal_id_ == 0) next_proposal_id_ = 1;
}

WritePipeline::~WritePipeline() { Stop(); }

cairnpb::Membership WritePipeline::Membership() const {
  std::lock_guard<std::mutex> lock(mu_);
  return membership_;
}

absl::Status WritePipeline::Recover(const std::vector<wal::Record>& records) {
  StorePoint point;
  point.applied_index = store_->AppliedIndex();
  point.applied_term = store_->AppliedTerm();
  auto blob = store_->Membership();
  if (!blob.ok()) return blob.status();
  if (!blob->empty()) {
    if (!point.membership.ParseFromString(*blob)) {
      return absl::DataLossError("cairn: the store's membership record does not decode");
    }
    point.has_membership = true;
  }
  if (auto s = LoadAuthRevision(); !s.ok()) return s;
  if (auto s = LoadAlarms(); !s.ok()) return s;
  auto log = RecoverLog(records, point, options_.founders);
  if (!log.ok()) return log.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    membership_ = point.membership;
  }

  if (log->single_member_upgrade) {
    if (options_.founders.size() != 1) {
      return absl::FailedPreconditionError(
          "cairn: this data directory was written by a single-member cairnd; start it alone "
          "(--initial-cluster naming only this member) and add members afterwards");
    }
    cairnpb::Membership alone;
    alone.mutable_conf_state()->add_voters(options_.founders[0].id());
    *alone.add_members() = options_.founders[0];
    std::unique_ptr<mvcc::WriteBatch> txn = store_->BeginWrite();
    if (txn == nullptr) return absl::UnavailableError("cairn: the store cannot start a write transaction");
    if (auto s = txn->SetMembership(alone.SerializeAsString()); !s.ok()) return s;
    txn->SetApplied(point.applied_index, point.applied_term);
    if (auto s = txn->Commit(); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    membership_ = alone;
  }
  if (log->founded) {
    if (auto s = wal_->Write(CommittedRecords(log->entries, log->hard_state)); !s.ok()) return s;
    if (auto s = wal_->Sync(); !s.ok()) return s;
  }

  // Committed entries the store lacks are applied now, so the member serves current data at once.
  std::vector<cairnpb::Entry> committed;
  std::vector<cairnpb::Entry> rest;
  for (auto& e : log->entries) {
    (e.index() <= log->hard_state.commit() ? committed : rest).push_back(std::move(e));
  }
  for (size_t i = 0; i < committed.size(); i += kApplyChunk) {
    std::vector<cairnpb::Entry> chunk(committed.begin() + i,
                                      committed.begin() + std::min(committed.size(), i + kApplyChunk));
    ApplyEntries(chunk);
    if (!broken_.ok()) return broken_;
  }
  if (options_.force_new_cluster && !log->founded) {
    bool forced = false;
    if (auto s = ForceStandalone(&log->hard_state, &forced); !s.ok()) return s;
    if (forced && !rest.empty()) {
      // No quorum will ever vote on them; the forced entries took their indexes in the WAL.
      std::fprintf(stderr, "cairnd: --force-new-cluster: discarded %zu uncommitted log entries (indexes %llu-%llu)\n",
                   rest.size(), static_cast<unsigned long long>(rest.front().index()),
                   static_cast<unsigned long long>(rest.back().index()));
      rest.clear();
    }
  }

  const uint64_t applied = store_->AppliedIndex();
  if (applied > 0) {
    cairnpb::Snapshot snap;
    snap.mutable_metadata()->set_index(applied);
    snap.mutable_metadata()->set_term(store_->AppliedTerm());
    *snap.mutable_metadata()->mutable_conf_state() = membership_.conf_state();
    if (auto s = storage_.ApplySnapshot(snap); !s.ok()) return s;
  }
  if (auto s = storage_.Append(rest); !s.ok()) return s;
  cairnpb::HardState hs = log->hard_state;
  hs.set_commit(std::max(hs.commit(), applied));
  storage_.SetHardState(hs);

  raft::Config config;
  config.id = options_.header.member_id;
  config.election_tick = options_.election_ticks;
  config.heartbeat_tick = 1;
  config.storage = &storage_;
  config.applied = applied;
  config.max_size_per_msg = 1 << 20;
  config.max_committed_size_per_ready = 64 << 20;
  auto node = raft::RawNode::Create(config);
  if (!node.ok()) return node.status();
  node_ = std::move(*node);
  term_ = hs.term();
  commit_ = hs.commit();
  last_index_ = *storage_.LastIndex();
  single_voter_ = Voters(membership_) == std::vector<uint64_t>{options_.header.member_id};
  compaction_pending_ = store_->CompactionPending();
  return absl::OkStatus();
}

void WritePipeline::Start() {
  {
    // Before anything is served: the membership reaches the transport, and a single voter leads
    // (and has applied its first entry) by the time Start returns.
    std::unique_lock<std::mutex> driver(driver_mu_);
    DrivingScope scope(this);
    if (hooks_.on_membership) hooks_.on_membership(Membership());
    if (single_voter_) node_->Campaign();
    HandleReadies();
    Answers answers = TakeAnswers();
    driver.unlock();
    Deliver(answers);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void WritePipeline::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A round another thread is running inline finishes first; none starts after stopping_.
  std::lock_guard<std::mutex> driver(driver_mu_);
  Answers applied = TakeAnswers();
  Deliver(applied);
  // A clean stop leaves nothing to replay: the next start is as fast as it can be.
  TrimLog();
  std::deque<PendingWrite> leftover;
  std::vector<std::function<void(absl::Status)>> reads;
  std::vector<Install> installs;
  std::vector<Transfer> transfers;
  std::vector<PendingConfChange> confs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    leftover.swap(queue_);
    reads.swap(read_queue_);
    installs.swap(installs_);
    transfers.swap(transfer_queue_);
    confs.swap(conf_queue_);
  }
  for (Install& install : installs) install.done(ErrStopped());
  for (Transfer& t : transfers) t.done(ErrStopped());
  for (Transfer& t : transfers_) t.done(ErrStopped());
  transfers_.clear();
  for (PendingConfChange& c : confs) c.done(ErrStopped());
  for (PendingWrite& w : leftover) w.done(ErrStopped());
  AnswerWaitingWrites(ErrStopped());
  for (auto& r : reads) r(ErrStopped());
  for (auto& round : reads_without_leader_) {
    for (auto& r : round.waiters) r(ErrStopped());
  }
  reads_without_leader_.clear();
  for (auto& [ctx, round] : read_rounds_) {
    for (auto& r : round.waiters) r(ErrStopped());
  }
  read_rounds_.clear();
  for (auto& [index, round] : reads_to_apply_) {
    for (auto& r : round.waiters) r(ErrStopped());
  }
  reads_to_apply_.clear();
  for (PendingWrite& w : awaiting_compaction_) w.done(ErrStopped());
  awaiting_compaction_.clear();
}

void WritePipeline::Submit(PendingWrite write) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      lock.unlock();
      write.done(ErrStopped());
      return;
    }
    queue_.push_back(std::move(write));
    if (!started_) return;  // the writer thread takes it once started
    if (driving == this) return;  // the round in progress on this thread takes it
  }
  // Flat combining: the submitting thread runs the round itself when no round is in progress, so
  // an idle member answers a write without waking another thread (and its reply leaves from the
  // thread that took the call). When a round is in progress, its driver takes this write next:
  // every driver looks at the queue again after releasing the round. Under load the submitter goes
  // on with the writes that came in meanwhile, for a few milliseconds (it may be the lessor's
  // thread, which has its own work), then hands them to the writer thread. Handing over after every
  // round cost 9-14 % more CPU per put at 16-64 clients (a wake-up per round, and the answers sent
  // from a thread gRPC does not own) for no more throughput.
  constexpr auto kMaxDrivingTime = std::chrono::milliseconds(5);
  const Clock::time_point drive_until = Clock::now() + kMaxDrivingTime;
  while (driver_mu_.try_lock()) {
    Answers answers;
    {
      DrivingScope scope(this);
      bool idle;
      {
        std::lock_guard<std::mutex> lock(mu_);
        idle = stopping_ || queue_.empty();
      }
      if (!idle) RunRound(false, Clock::now());
      answers = TakeAnswers();
    }
    driver_mu_.unlock();
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      more = !stopping_ && !queue_.empty();
    }
    const bool hand_over = more && Clock::now() >= drive_until;
    if (hand_over) wake_.notify_one();
    Deliver(answers);
    if (hand_over) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.empty()) return;
  }
}

absl::Status WritePipeline::ProposeAndWait(cairnpb::LogRequest request, google::protobuf::Message* response) {
  return WaitForOutcome([&](std::function<void(absl::Status)> done) {
    PendingWrite write;
    write.request = std::move(request);
    write.bytes = write.request.ByteSizeLong();
    write.response = response;
    write.done = std::move(done);
    Submit(std::move(write));
  });
}

WritePipeline::Answers WritePipeline::TakeAnswers() {
  Answers answers;
  answers.swap(answers_);
  return answers;
}

void WritePipeline::Deliver(Answers& answers) {
  for (auto& [done, status] : answers) done(status);
  answers.clear();
}

void WritePipeline::Step(cairnpb::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  // A removed member (back on old data, or never told) must not depose a leader or overwrite the log.
  if (WasRemoved(membership_, message.from())) return;
  inbox_.push_back(std::move(message));
  wake_.notify_one();
}

void WritePipeline::ReportUnreachable(uint64_t peer) {
  std::lock_guard<std::mutex> lock(mu_);
  reports_.emplace_back(peer, 0);
  wake_.notify_one();
}

void WritePipeline::ReportSnapshot(uint64_t peer, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  reports_.emplace_back(peer, ok ? 1 : 2);
  wake_.notify_one();
}

void WritePipeline::Run() {
  Clock::time_point next_tick = Clock::now() + options_.tick;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const Clock::time_point wake_at = std::min(next_tick, last_store_sync_ + options_.store_sync_interval);
      wake_.wait_until(lock, wake_at, [&] {
        return stopping_ || !queue_.empty() || !inbox_.empty() || !reports_.empty() || !read_queue_.empty() ||
               !installs_.empty() || !transfer_queue_.empty() || !conf_queue_.empty() || compaction_pending_.load();
      });
      if (stopping_) return;
    }
    std::unique_lock<std::mutex> driver(driver_mu_);
    Answers answers;
    {
      DrivingScope scope(this);
      const Clock::time_point now = Clock::now();
      const bool tick = now >= next_tick;
      if (tick) {
        next_tick += options_.tick;
        if (next_tick <= now) next_tick = now + options_.tick;  // fell behind: do not burst ticks
      }
      RunRound(tick, now);
      if (broken_.ok()) Housekeeping();
      answers = TakeAnswers();
    }
    driver.unlock();
    Deliver(answers);
  }
}

void WritePipeline::RunRound(bool tick, Clock::time_point now) {
  std::vector<PendingWrite> batch;
  std::vector<cairnpb::Message> inbox;
  std::vector<std::pair<uint64_t, int>> reports;
  std::vector<std::function<void(absl::Status)>> reads;
  std::vector<Install> installs;
  std::vector<Transfer> transfers;
  std::vector<PendingConfChange> confs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    transfers.swap(transfer_queue_);
    confs.swap(conf_queue_);
    size_t bytes = 0;
    batch.reserve(std::min(queue_.size(), options_.max_batch));
    while (!queue_.empty() && batch.size() < options_.max_batch &&
           (batch.empty() || bytes + queue_.front().bytes <= options_.max_batch_bytes)) {
      bytes += queue_.front().bytes;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    inbox.swap(inbox_);
    reports.swap(reports_);
    reads.swap(read_queue_);
    installs.swap(installs_);
  }
  if (!broken_.ok()) {
    for (PendingWrite& w : batch) w.done(broken_);
    for (auto& r : reads) r(broken_);
    for (Install& install : installs) install.done(broken_);
    for (Transfer& t : transfers) t.done(broken_);
    for (PendingConfChange& c : confs) c.done(broken_);
    return;
  }
  for (PendingConfChange& c : confs) {
    if (absl::Status s = node_->ProposeConfChange(c.change); !s.ok()) {
      c.done(Leader() == 0 ? ErrNoLeader() : s);
      continue;
    }
    conf_changes_.push_back(std::move(c));
  }
  for (const cairnpb::Message& m : inbox) (void)node_->Step(m);
  if (!inbox.empty()) RecordContact(inbox, now);
  for (Transfer& t : transfers) {
    if (!is_leader_) {
      t.done(ErrNotLeader());
      continue;
    }
    if (t.target != options_.header.member_id) node_->TransferLeadership(t.target);
    transfers_.push_back(std::move(t));
  }
  for (Install& install : installs) install.done(broken_.ok() ? DoInstall(install) : broken_);
  for (const auto& [peer, kind] : reports) {
    if (kind == 0) {
      node_->ReportUnreachable(peer);
    } else {
      node_->ReportSnapshot(peer, kind == 1);
    }
  }
  if (tick) {
    node_->Tick();
    ExpireWaiters(now);
    PublishProgress();
    if (!published_self_) PublishSelfIfNeeded(now);
  }
  if (!transfers_.empty()) SettleTransfers(now);
  if (!writes_without_leader_.empty() && (Leader() != 0 || tick)) RetryWritesWithoutLeader(now);
  for (PendingWrite& w : batch) Propose(w, now);
  if (!reads_without_leader_.empty() && Leader() != 0) {
    std::vector<ReadRound> retry;
    retry.swap(reads_without_leader_);
    for (ReadRound& round : retry) StartReadRound(std::move(round));
  }
  if (!reads.empty()) StartReadRound(ReadRound{std::move(reads), now + options_.request_timeout});
  HandleReadies();
  proposals_pending_.store(proposed_.size() + writes_without_leader_.size(), std::memory_order_relaxed);
}

void WritePipeline::Propose(PendingWrite& write, Clock::time_point now) {
  if (write.leader_only) {
    // Asked of the raft node itself, not of is_leader_/term_: messages stepped earlier in this
    // round (a new leader's) may have deposed this member already.
    const raft::Raft& raft = node_->raft();
    if (raft.role() != raft::Role::kLeader) return write.done(ErrNotLeader());
    write.request.set_leader_term(raft.term());
  }
  ProposeOrWait(Waiting{std::move(write), now + options_.request_timeout});
}

void WritePipeline::ProposeOrWait(Waiting waiting) {
  const uint64_t id = next_proposal_id_++;
  waiting.write.request.set_proposal_id(id);
  if (Leader() == 0 || !node_->Propose(waiting.write.request.SerializeAsString()).ok()) {
    // No leader (an election is under way): the write waits for one, up to the request timeout,
    // as etcd's does.
    writes_without_leader_.push_back(std::move(waiting));
    return;
  }
  proposed_.emplace(id, std::move(waiting));
}

void WritePipeline::RetryWritesWithoutLeader(Clock::time_point now) {
  std::vector<Waiting> retry;
  retry.swap(writes_without_leader_);
  for (Waiting& w : retry) {
    if (w.deadline <= now) {
      proposals_failed_.fetch_add(1, std::memory_order_relaxed);
      w.write.done(ErrTimeout());
    } else {
      ProposeOrWait(std::move(w));
    }
  }
}

void WritePipeline::HandleReadies() {
  while (broken_.ok() && node_->HasReady()) {
    raft::Ready rd = node_->GetReady();
    if (rd.soft_state) {
      const uint64_t previous_leader = leader_.exchange(rd.soft_state->lead);
      const bool leading = rd.soft_state->role == raft::Role::kLeader;
      if (leading != is_leader_) {
        is_leader_ = leading;
        if (!leading && leader_ready_) SetLeaderReady(false);
        PublishProgress();
      }
      if (previous_leader != rd.soft_state->lead) {
        if (rd.soft_state->lead != 0) leader_changes_.fetch_add(1, std::memory_order_relaxed);
        // A read round sent to the old leader may never be answered: ask the new one.
        for (auto& [ctx, round] : read_rounds_) reads_without_leader_.push_back(std::move(round));
        read_rounds_.clear();
      }
    }
    if (rd.hard_state) {
      term_ = rd.hard_state->term();
      commit_ = rd.hard_state->commit();
    }
    Persist(rd);
    if (!broken_.ok()) return;
    if (!rd.messages.empty() && hooks_.send) hooks_.send(std::move(rd.messages));
    for (size_t i = 0; i < rd.committed_entries.size(); i += kApplyChunk) {
      if (i == 0 && rd.committed_entries.size() <= kApplyChunk) {
        ApplyEntries(rd.committed_entries);
      } else {
        std::vector<cairnpb::Entry> chunk(
            rd.committed_entries.begin() + i,
            rd.committed_entries.begin() + std::min(rd.committed_entries.size(), i + kApplyChunk));
        ApplyEntries(chunk);
      }
      if (!broken_.ok()) return;
    }
    for (const raft::ReadState& rs : rd.read_states) {
      auto it = read_rounds_.find(rs.context);
      if (it == read_rounds_.end()) continue;
      reads_to_apply_.emplace(rs.index, std::move(it->second));
      read_rounds_.erase(it);
    }
    node_->Advance(rd);
    ServeReads();
    if (!transfers_.empty() && rd.soft_state) SettleTransfers(Clock::now());
  }
}

void WritePipeline::Persist(raft::Ready& rd) {
  if (rd.snapshot) {
    // The store already holds this snapshot's state (DoInstall put the leader's image in place
    // before raft saw the message); raft's log now starts after it.
    (void)storage_.ApplySnapshot(*rd.snapshot);
  }
  std::vector<wal::Record> records;
  records.reserve(rd.entries.size() + 1);
  for (const cairnpb::Entry& e : rd.entries) records.push_back(EntryToRecord(e));
  if (rd.hard_state) {
    if (rd.must_sync || !rd.entries.empty()) {
      records.push_back(HardStateToRecord(*rd.hard_state));
      has_pending_hard_state_ = false;
    } else {
      // Only the commit index moved: nothing depends on it being durable, so it rides along with
      // the next write instead of costing one of its own.
      rd.hard_state->SerializeToString(&pending_hard_state_);
      has_pending_hard_state_ = true;
    }
  } else if (has_pending_hard_state_ && !records.empty()) {
    cairnpb::HardState hs;
    hs.ParseFromString(pending_hard_state_);
    records.push_back(HardStateToRecord(hs));
    has_pending_hard_state_ = false;
  }
  if (!records.empty()) {
    absl::Status logged = wal_->Write(records);
    if (logged.ok() && rd.must_sync) {
      const Clock::time_point sync_start = Clock::now();
      logged = wal_->Sync();
      if (options_.wal_fsync_seconds != nullptr) {
        options_.wal_fsync_seconds->Observe(std::chrono::duration<double>(Clock::now() - sync_start).count());
      }
    }
    if (!logged.ok()) return Fail("write-ahead log failed", logged);
    batches_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!rd.entries.empty()) {
    for (const cairnpb::Entry& e : rd.entries) memory_log_bytes_ += e.data().size() + 32;
    last_index_ = rd.last_entry_index;
    // Persisted: the storage takes them (Advance reads only last_entry_index/term).
    if (auto s = storage_.Append(std::move(rd.entries)); !s.ok()) return Fail("raft log append failed", s);
  }
  if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
}

void WritePipeline::ExpireWaiters(Clock::time_point now) {
  // Each predicate answers what it removes, once: std::erase_if calls it once per element.
  std::erase_if(proposed_, [this, now](const auto& entry) {
    if (entry.second.deadline > now) return false;
    proposals_failed_.fetch_add(1, std::memory_order_relaxed);
    entry.second.write.done(ErrTimeout());
    return true;
  });
  std::erase_if(conf_changes_, [now](const PendingConfChange& change) {
    if (change.deadline > now) return false;
    change.done(ErrTimeout());
    return true;
  });
  auto expire_round = [now](const ReadRound& round) {
    if (round.deadline > now) return false;
    for (const auto& w : round.waiters) w(ErrTimeout());
    return true;
  };
  std::erase_if(read_rounds_, [&](const auto& entry) { return expire_round(entry.second); });
  std::erase_if(reads_without_leader_, expire_round);
}

void WritePipeline::SetLeaderReady(bool ready) {
  leader_ready_ = ready;
  local_reads_.store(ready && single_voter_, std::memory_order_release);
  if (hooks_.on_leadership) hooks_.on_leadership(ready);
}

void WritePipeline::Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "cairnd: %s, refusing further writes: %s\n", what.c_str(), status.ToString().c_str());
  broken_ = absl::UnavailableError("cairn: " + what + ": " + std::string(status.message()));
  local_reads_ = false;
  AnswerWaitingWrites(broken_);
}

void WritePipeline::AnswerWaitingWrites(const absl::Status& status) {
  proposals_failed_.fetch_add(proposed_.size() + writes_without_leader_.size(), std::memory_order_relaxed);
  for (auto& [id, waiting] : proposed_) waiting.write.done(status);
  proposed_.clear();
  for (Waiting& w : writes_without_leader_) w.write.done(status);
  writes_without_leader_.clear();
  for (PendingConfChange& c : conf_changes_) c.done(status);
  conf_changes_.clear();
}

}  // namespace cairn::server
