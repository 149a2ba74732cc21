// cairn::peer::SnapshotSender — one store image on its way to one peer (client side of
// Peer.Snapshot), on its own thread.
//
// The thread asks the snapshot source for the image file, opens Peer.Snapshot, sends the first
// chunk with the MSG_SNAPSHOT message (its snapshot.data cleared) and the file's size, then the
// file in 1 MiB chunks, and reports done(ok): ok when the peer answered OK with ack.ok. There is no
// overall deadline (an image may be large); Cancel() ends a transfer at once and suppresses done.
//
// Threads: done runs on the sender's thread, at most once, never after Join() returns.
// The file belongs to whoever supplied it; the sender only reads it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairnpb/peer.grpc.pb.h"

namespace cairn::peer {

// Returns the path of a file holding the store image `snap_msg` describes.
using SnapshotSource = std::function<absl::StatusOr<std::string>(const cairnpb::Message& snap_msg)>;

inline constexpr size_t kSnapshotChunkBytes = 1 << 20;

class SnapshotSender {
 public:
  SnapshotSender(uint64_t peer_id, uint64_t cluster_id, std::shared_ptr<cairnpb::Peer::Stub> stub,
                 cairnpb::Message message, SnapshotSource source, std::function<void(bool ok)> done);
  ~SnapshotSender();  // Cancel() and Join()

  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  void Cancel();  // returns at once
  void Join();
  bool Finished() const;

 private:
  void Run();
  absl::Status Transfer();

  const uint64_t peer_id_;
  const uint64_t cluster_id_;
  const std::shared_ptr<cairnpb::Peer::Stub> stub_;
  const cairnpb::Message message_;
  const SnapshotSource source_;
  const std::function<void(bool)> done_;

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;

  std::thread thread_;  // last member
};

}  // namespace cairn::peer
