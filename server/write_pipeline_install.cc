// WritePipeline: store images for members too far behind for the in-memory log (raft snapshots).
// The leader copies its store into a file; a follower installs a received image inside a round.
#include <cstdio>
#include <future>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/errors.h"
#include "server/membership.h"
#include "server/write_pipeline.h"

namespace cairn::server {

absl::StatusOr<std::string> WritePipeline::WriteSnapshotImage(const cairnpb::Message& message,
                                                             const std::string& dir) const {
  const std::string path = absl::StrCat(dir, "/image-for-", message.to(), ".mdb");
  if (auto s = store_->CopyTo(path); !s.ok()) return s;
  return path;
}

absl::Status WritePipeline::InstallSnapshot(const cairnpb::Message& message, const std::string& image_path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (WasRemoved(membership_, message.from())) {
      return absl::FailedPreconditionError("cairn: refusing a store image from a member removed from the cluster");
    }
  }
  auto result = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> outcome = result->get_future();
  Install install{message, image_path, [result](absl::Status s) { result->set_value(std::move(s)); }};
  if (!QueueForRound(&installs_, install)) return ErrStopped();
  return outcome.get();
}

absl::Status WritePipeline::DoInstall(const Install& install) {
  const cairnpb::SnapshotMetadata& meta = install.message.snapshot().metadata();
  uint64_t image_index = 0, image_term = 0;
  if (auto s = mvcc::Store::ReadImagePoint(install.path, &image_index, &image_term); !s.ok()) return s;
  if (image_index < meta.index()) {
    return absl::FailedPreconditionError(absl::StrCat("cairn: the store image is at index ", image_index,
                                                      ", older than the snapshot's ", meta.index()));
  }
  if (image_index > store_->AppliedIndex()) {
    const int64_t previous_revision = store_->CurrentRevision();
    if (auto s = store_->ReplaceContentsFrom(install.path); !s.ok()) return s;
    // Durable before the log says so: the log's entries below the image are dropped on restart.
    if (auto s = store_->Sync(); !s.ok()) return s;
    synced_index_ = store_->AppliedIndex();
    wal::Record marker;
    marker.type = wal::RecordType::kSnapshot;
    marker.index = image_index;
    marker.term = image_term;
    if (auto s = wal_->Write({marker}); !s.ok()) return s;
    if (auto s = wal_->Sync(); !s.ok()) return s;
    cairnpb::Membership membership;
    auto blob = store_->Membership();
    if (blob.ok()) membership.ParseFromString(*blob);
    {
      std::lock_guard<std::mutex> lock(mu_);
      membership_ = membership;
    }
    single_voter_ = Voters(membership) == std::vector<uint64_t>{options_.header.member_id};
    compaction_pending_ = store_->CompactionPending();
    if (auto s = LoadAuthRevision(); !s.ok()) return s;
    if (auto s = LoadAlarms(); !s.ok()) return s;
    std::fprintf(stderr, "cairnd: installed the leader's store image at index %llu\n",
                 static_cast<unsigned long long>(image_index));
    if (hooks_.on_membership) hooks_.on_membership(membership);
    if (hooks_.on_store_replaced) hooks_.on_store_replaced(previous_revision);
  }
  (void)node_->Step(install.message);
  return absl::OkStatus();
}

}  // namespace cairn::server
