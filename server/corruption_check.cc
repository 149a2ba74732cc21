#include "server/corruption_check.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/peer/channel.h"
#include "server/wait_for_outcome.h"
#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

std::string Hex(uint64_t id) { return absl::StrFormat("%x", id); }

}  // namespace

std::vector<PeerHashAnswer> PeerHashAsker::Ask(const cairnpb::Membership& membership, int64_t revision) const {
  std::vector<PeerHashAnswer> answers;
  for (const cairnpb::MemberRecord& m : membership.members()) {
    if (m.id() == self_id || m.peer_urls().empty()) continue;
    PeerHashAnswer answer;
    answer.member_id = m.id();
    answer.error = "no peer URL answered";
    for (const std::string& url : m.peer_urls()) {
      auto got = peer::FetchHashKV(url, cluster_id, revision, timeout, peer_tls);
      if (!got.ok()) {
        answer.error = absl::StrCat(url, ": ", got.status().message());
        continue;
      }
      answer.answered = true;
      answer.error.clear();
      answer.hash = got->hash();
      answer.hash_revision = got->hash_revision();
      answer.compact_revision = got->compact_revision();
      answer.current_revision = got->current_revision();
      break;
    }
    answers.push_back(std::move(answer));
  }
  return answers;
}

absl::StatusOr<HashSample> LocalHash(const mvcc::Store& store) {
  HashSample sample;
  auto hash = store.HashKV(0, &sample.revision, &sample.compact_revision);
  if (!hash.ok()) return hash.status();
  sample.hash = *hash;
  return sample;
}

absl::StatusOr<cairnpb::PeerHashKVResponse> AnswerPeerHashKV(const mvcc::Store& store, uint64_t self_id,
                                                             int64_t revision) {
  // Read before hashing: the store only moves forward, so this is at most the hashed state's.
  const int64_t current = store.CurrentRevision();
  int64_t hash_revision = 0, compact_revision = 0;
  auto hash = store.HashKV(revision, &hash_revision, &compact_revision);
  if (!hash.ok()) return hash.status();
  cairnpb::PeerHashKVResponse response;
  response.set_member_id(self_id);
  response.set_hash(*hash);
  response.set_hash_revision(hash_revision);
  response.set_compact_revision(compact_revision);
  response.set_current_revision(std::max(current, hash_revision));
  return response;
}

absl::Status CheckInitialHashKV(const mvcc::Store& store, const cairnpb::Membership& membership,
                                const PeerHashAsker& asker) {
  auto local = LocalHash(store);
  if (!local.ok()) {
    return absl::Status(local.status().code(),
                        absl::StrCat("initial corruption check: cannot hash the store: ", local.status().message()));
  }
  std::fprintf(stderr, "cairnd: initial corruption check: hash %u at revision %lld (compacted revision %lld)\n",
               local->hash, static_cast<long long>(local->revision), static_cast<long long>(local->compact_revision));
  std::vector<std::string> skipped;
  absl::Status verdict = DecideInitialCheck(asker.self_id, *local, asker.Ask(membership, local->revision), &skipped);
  for (const std::string& line : skipped) std::fprintf(stderr, "cairnd: initial corruption check: %s\n", line.c_str());
  if (!verdict.ok()) return verdict;
  std::fprintf(stderr, "cairnd: initial corruption check passed\n");
  return absl::OkStatus();
}

CorruptionMonitor::CorruptionMonitor(std::chrono::milliseconds period, CorruptionMonitorHooks hooks)
    : period_(period), hooks_(std::move(hooks)) {}

CorruptionMonitor::~CorruptionMonitor() { Stop(); }

void CorruptionMonitor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CorruptionMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CorruptionMonitor::Log(const std::string& line) const {
  if (hooks_.log) {
    hooks_.log(line);
  } else {
    std::fprintf(stderr, "cairnd: corruption check: %s\n", line.c_str());
  }
}

void CorruptionMonitor::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    if (!hooks_.is_leader()) continue;
    lock.unlock();
    if (absl::Status s = CheckOnce(); !s.ok()) Log(absl::StrCat("check failed: ", s.ToString()));
    lock.lock();
  }
}

absl::Status CorruptionMonitor::CheckOnce() {
  auto before = hooks_.local_hash();
  if (!before.ok()) return before.status();
  const std::vector<PeerHashAnswer> peers = hooks_.ask_peers(hooks_.membership(), before->revision);
  // After the barrier this member has applied everything any peer could have applied when it
  // answered, so a peer ahead of `after` diverged rather than raced.
  if (absl::Status s = hooks_.read_barrier(); !s.ok()) return s;
  auto after = hooks_.local_hash();
  if (!after.ok()) return after.status();
  const PeriodicVerdict verdict = DecidePeriodicCheck(hooks_.self_id, *before, *after, peers);
  if (!verdict.corrupt || hooks_.corrupt_raised(verdict.member_id)) return absl::OkStatus();
  Log(absl::StrCat("raising CORRUPT for member ", Hex(verdict.member_id), ": ", verdict.reason));
  return hooks_.raise_corrupt(verdict.member_id);
}

std::unique_ptr<CorruptionMonitor> MakeCorruptionMonitor(std::chrono::milliseconds period, WritePipeline* pipeline,
                                                         const mvcc::Store* store, PeerHashAsker asker) {
  CorruptionMonitorHooks hooks;
  const uint64_t self = asker.self_id;
  hooks.self_id = self;
  hooks.is_leader = [pipeline, self] { return pipeline->Leader() == self; };
  hooks.membership = [pipeline] { return pipeline->Membership(); };
  hooks.local_hash = [store] { return LocalHash(*store); };
  hooks.read_barrier = [pipeline] {
    return WaitForOutcome([pipeline](std::function<void(absl::Status)> done) { pipeline->ReadBarrier(std::move(done)); });
  };
  hooks.ask_peers = [asker = std::move(asker)](const cairnpb::Membership& membership, int64_t revision) {
    return asker.Ask(membership, revision);
  };
  hooks.corrupt_raised = [pipeline](uint64_t member) {
    return pipeline->Alarms().Contains(member, etcdserverpb::CORRUPT);
  };
  hooks.raise_corrupt = [pipeline](uint64_t member) {
    cairnpb::LogRequest request;
    *request.mutable_alarm() = AlarmActivation(member, etcdserverpb::CORRUPT);
    etcdserverpb::AlarmResponse response;
    return pipeline->ProposeAndWait(std::move(request), &response);
  };
  return std::make_unique<CorruptionMonitor>(period, std::move(hooks));
}

}  // namespace cairn::server
