#include "server/peer/stream_sender.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace cairn::peer {

StreamSender::StreamSender(StreamSenderOptions options, std::shared_ptr<cairnpb::Peer::Stub> stub)
    : options_(std::move(options)), stub_(std::move(stub)), backoff_(options_.backoff_min),
      thread_([this] { Run(); }) {}

StreamSender::~StreamSender() {
  BeginStop();
  Join();
}

void StreamSender::Enqueue(cairnpb::Message message) {
  const size_t bytes = message.ByteSizeLong();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (queue_.size() < QueueLimitLocked() && queued_bytes_ + bytes <= options_.max_queued_bytes) {
      queued_bytes_ += bytes;
      queue_.push_back(Queued{std::move(message), bytes});
      return;
    }
    ++stats_.dropped;
  }
  if (options_.on_drop) options_.on_drop();
}

void StreamSender::BeginStop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

void StreamSender::Join() {
  if (thread_.joinable()) thread_.join();
}

bool StreamSender::Finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

StreamSenderStats StreamSender::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t StreamSender::QueueLimitLocked() const {
  // Until a write has gone through, the peer may be down: keep only a few messages for it.
  if (stats_.connected) return options_.max_queued_messages;
  return std::min(options_.disconnected_queue_limit, options_.max_queued_messages);
}

void StreamSender::Run() {
  cairnpb::MessageBatch batch;
  while (NextBatch(batch)) {
    const size_t count = batch.messages_size();
    if (count == 0) continue;
    if (!EnsureStream()) break;
    if (writer_->Write(batch)) {
      absl::MutexLock lock(&mu_);
      stats_.sent += count;
      stats_.sent_bytes += static_cast<uint64_t>(batch.GetCachedSize());  // sized when gRPC serialized it
      stats_.connected = true;
      backoff_ = options_.backoff_min;
    } else {
      OnBroken(count);
    }
  }
  CloseStream();
  absl::MutexLock lock(&mu_);
  queue_.clear();
  queued_bytes_ = 0;
  finished_ = true;
}

bool StreamSender::NextBatch(cairnpb::MessageBatch& batch) {
  batch.Clear();
  batch.set_cluster_id(options_.cluster_id);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](StreamSender* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->stopping_ || !s->queue_.empty();
      },
      this));
  if (stopping_) return false;
  size_t bytes = 0;
  while (!queue_.empty()) {
    Queued& next = queue_.front();
    if (batch.messages_size() > 0 && bytes + next.bytes > options_.max_batch_bytes) break;
    bytes += next.bytes;
    queued_bytes_ -= next.bytes;
    *batch.add_messages() = std::move(next.message);
    queue_.pop_front();
  }
  return true;
}

bool StreamSender::EnsureStream() {
  if (writer_ != nullptr) return true;
  auto context = std::make_unique<grpc::ClientContext>();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    context_ = context.get();
  }
  owned_context_ = std::move(context);
  writer_ = stub_->Raft(owned_context_.get(), &ack_);
  return true;
}

void StreamSender::CloseStream() {
  if (writer_ == nullptr) return;
  // Whatever the stream's state, cancelling first makes Finish return at once.
  owned_context_->TryCancel();
  writer_->Finish();
  writer_.reset();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  owned_context_.reset();
}

void StreamSender::OnBroken(size_t batch_size) {
  const grpc::Status status = writer_->Finish();
  writer_.reset();
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  owned_context_.reset();
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && !refusal_logged_) {
    refusal_logged_ = true;
    std::fprintf(stderr, "cairnd: peer %llx refused the raft stream: %s\n",
                 static_cast<unsigned long long>(options_.peer_id), status.error_message().c_str());
  }
  {
    absl::MutexLock lock(&mu_);
    // Everything queued was meant for the stream that broke; raft retransmits after probing.
    stats_.dropped += batch_size + queue_.size();
    queue_.clear();
    queued_bytes_ = 0;
    stats_.connected = false;
    stats_.last_error = status.ok() ? "stream ended" : status.error_message();
    stopping = stopping_;
  }
  if (!stopping && options_.on_drop) options_.on_drop();
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff_);
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
}

}  // namespace cairn::peer
