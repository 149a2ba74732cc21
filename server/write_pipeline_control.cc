// WritePipeline: the requests that are not writes: membership changes, leadership transfers and
// read barriers (raft ReadIndex), queued for the next round and settled by later ones.
#include "absl/strings/str_cat.h"
#include "server/errors.h"
#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void WritePipeline::ProposeConfChange(cairnpb::ConfChange change, std::function<void(absl::Status)> done) {
  PendingConfChange pending{std::move(change), Clock::now() + options_.request_timeout, std::move(done)};
  if (!QueueForRound(&conf_queue_, pending)) pending.done(ErrStopped());
}

void WritePipeline::TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) {
  Transfer transfer{target, Clock::now() + options_.request_timeout, std::move(done)};
  if (!QueueForRound(&transfer_queue_, transfer)) transfer.done(ErrStopped());
}

void WritePipeline::SettleTransfers(Clock::time_point now) {
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (Leader() == it->target) {
      it->done(absl::OkStatus());
    } else if (it->deadline <= now) {
      it->done(absl::UnknownError("etcdserver: request timed out, leader transfer took too long"));
    } else {
      ++it;
      continue;
    }
    it = transfers_.erase(it);
  }
}

void WritePipeline::ReadBarrier(std::function<void(absl::Status)> done) {
  if (LocalReadsLinearizable()) return done(absl::OkStatus());
  if (!QueueForRound(&read_queue_, done)) done(ErrStopped());
}

void WritePipeline::StartReadRound(ReadRound round) {
  std::string context = absl::StrCat("read-", ++next_read_id_);
  if (Leader() == 0 || !node_->ReadIndex(context).ok()) {
    reads_without_leader_.push_back(std::move(round));
    return;
  }
  read_rounds_.emplace(std::move(context), std::move(round));
}

void WritePipeline::ServeReads() {
  const uint64_t applied = store_->AppliedIndex();
  while (!reads_to_apply_.empty() && reads_to_apply_.begin()->first <= applied) {
    for (auto& w : reads_to_apply_.begin()->second.waiters) w(absl::OkStatus());
    reads_to_apply_.erase(reads_to_apply_.begin());
  }
}

}  // namespace cairn::server
