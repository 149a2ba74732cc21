// cairn::peer::StreamSender — the ordered stream of raft messages from this member to one peer.
//
// A bounded queue drained by one thread that keeps a Peer.Raft client stream open and writes
// whatever is queued as one MessageBatch per write (capped at max_batch_bytes, at least one
// message), so messages leave in the order they were enqueued.
//
// When the peer cannot be reached the sender never blocks its callers and never buffers without
// limit: a failed write drops that batch and everything queued behind it, the stream is reopened
// after a backoff (backoff_min doubling to backoff_max, reset by a successful write), and until a
// write succeeds again only `disconnected_queue_limit` messages wait. A message that does not fit
// (queue full by count or bytes) is dropped. Every drop is reported through on_drop so raft learns
// the peer is unreachable, probes it and retransmits. Note that a successful
// write means gRPC accepted the batch, not that the peer received it: raft tolerates the loss.
//
// Threads: Enqueue, BeginStop, Stats: any thread, never block (beyond a short mutex).
// on_drop runs inside Enqueue (queue full) or on the sender's thread (stream broke), with no lock
// held; it must not block (the transport only marks the peer for its UnreachableNotifier). It is
// not called once BeginStop() has been called.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cairnpb/peer.grpc.pb.h"

namespace cairn::peer {

struct StreamSenderOptions {
  uint64_t peer_id = 0;
  uint64_t cluster_id = 0;
  size_t max_queued_messages = 4096;
  size_t max_queued_bytes = 64 << 20;
  size_t disconnected_queue_limit = 128;  // messages waiting while the stream is not known to work
  size_t max_batch_bytes = 4 << 20;        // one write; the listener accepts up to kMaxPeerMessageBytes
  absl::Duration backoff_min = absl::Milliseconds(50);
  absl::Duration backoff_max = absl::Seconds(1);
  std::function<void()> on_drop;  // optional
};

struct StreamSenderStats {
  uint64_t sent = 0;     // messages gRPC accepted for the peer
  uint64_t dropped = 0;  // messages never written (queue full, peer down, stream broken)
  uint64_t sent_bytes = 0;  // serialized size of the batches gRPC accepted
  bool connected = false;  // the last write succeeded
  std::string last_error;  // the status the last broken stream ended with
};

class StreamSender {
 public:
  // `stub` is shared with the other users of the peer's channel.
  StreamSender(StreamSenderOptions options, std::shared_ptr<cairnpb::Peer::Stub> stub);
  ~StreamSender();  // BeginStop() and Join()

  StreamSender(const StreamSender&) = delete;
  StreamSender& operator=(const StreamSender&) = delete;

  void Enqueue(cairnpb::Message message);
  // Cancels the stream (a blocked write returns) and ends the thread; queued messages are dropped
  // without reporting. Returns at once.
  void BeginStop();
  // Waits for the thread. Returns within one cancelled gRPC call after BeginStop().
  void Join();
  bool Finished() const;  // the thread has ended (Join will not wait)
  StreamSenderStats Stats() const;

 private:
  void Run();
  // Waits for work; false when stopping. Moves the next batch into `batch`.
  bool NextBatch(cairnpb::MessageBatch& batch);
  // Opens the stream if there is none; false when stopping.
  bool EnsureStream();
  // Ends a broken stream, drops what is queued, reports, and waits out the backoff.
  void OnBroken(size_t batch_size);
  void CloseStream();
  size_t QueueLimitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StreamSenderOptions options_;
  const std::shared_ptr<cairnpb::Peer::Stub> stub_;

  mutable absl::Mutex mu_;
  struct Queued {
    cairnpb::Message message;
    size_t bytes;
  };
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  StreamSenderStats stats_ ABSL_GUARDED_BY(mu_);
  // Published under mu_ so BeginStop can cancel a call the thread is blocked in.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Owned by the sender thread.
  std::unique_ptr<grpc::ClientContext> owned_context_;
  std::unique_ptr<grpc::ClientWriterInterface<cairnpb::MessageBatch>> writer_;
  cairnpb::StreamAck ack_;
  absl::Duration backoff_;
  bool refusal_logged_ = false;

  std::thread thread_;  // last member: starts after everything above is ready
};

}  // namespace cairn::peer
