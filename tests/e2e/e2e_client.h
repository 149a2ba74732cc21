// cairn::e2e — small etcd v3 client helpers for the end-to-end tests (raw generated stubs, no
// client library, so the tests see exactly what cairnd puts on the wire).
//
// Contract:
//  - Every unary helper sets a deadline (kCallTimeout) so a hung server fails a test, never hangs it.
//  - WatchClient owns one Watch stream and one reader thread that appends every response it reads;
//    tests read the collected responses under its lock through Snapshot()/WaitFor(). Thread-safe.
//    With read_paused, the reader thread does not call Read() until Resume(): the client then
//    behaves like a consumer that stops reading, and gRPC flow control pushes back on the server.
//    With an observer, each response is handed to it on the reader thread instead of being kept
//    (for streams that carry too many responses to keep in memory); EventCount() still counts.
//    The destructor cancels the call and joins the thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace cairn::e2e {

inline constexpr std::chrono::seconds kCallTimeout{10};

inline void SetDeadline(grpc::ClientContext* context, std::chrono::milliseconds timeout = kCallTimeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// The range_end that makes [prefix, end) cover every key starting with `prefix`.
inline std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

inline grpc::Status Put(etcdserverpb::KV::Stub* kv, const std::string& key, const std::string& value,
                        int64_t lease = 0, etcdserverpb::PutResponse* out = nullptr) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = kv->Put(&context, request, &response);
  if (out != nullptr) *out = response;
  return status;
}

inline grpc::Status RangePrefix(etcdserverpb::KV::Stub* kv, const std::string& prefix, bool keys_only,
                                etcdserverpb::RangeResponse* out) {
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(PrefixEnd(prefix));
  request.set_keys_only(keys_only);
  grpc::ClientContext context;
  SetDeadline(&context);
  return kv->Range(&context, request, out);
}

class WatchClient {
 public:
  using Stream = grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

  using Observer = std::function<void(const etcdserverpb::WatchResponse&)>;

  explicit WatchClient(etcdserverpb::Watch::Stub* stub, bool read_paused = false, Observer observer = nullptr)
      : paused_(read_paused), observer_(std::move(observer)) {
    stream_ = stub->Watch(&context_);
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~WatchClient() {
    context_.TryCancel();
    Resume();
    reader_.join();
  }
  WatchClient(const WatchClient&) = delete;
  WatchClient& operator=(const WatchClient&) = delete;

  // Writes are serialised here; gRPC allows one writer at a time.
  bool Send(const etcdserverpb::WatchRequest& request) {
    std::lock_guard<std::mutex> lock(write_mu_);
    return stream_->Write(request);
  }

  bool Create(const std::string& key, const std::string& range_end, int64_t start_revision = 0,
              int64_t watch_id = 0, bool prev_kv = false) {
    etcdserverpb::WatchRequest request;
    auto* create = request.mutable_create_request();
    create->set_key(key);
    create->set_range_end(range_end);
    create->set_start_revision(start_revision);
    create->set_watch_id(watch_id);
    create->set_prev_kv(prev_kv);
    return Send(request);
  }

  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
    cv_.notify_all();
  }

  // Waits until `done(responses)` holds or `timeout` passes; returns whether it holds.
  bool WaitFor(const std::function<bool(const std::vector<etcdserverpb::WatchResponse>&)>& done,
               std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done(responses_) || ended_; }) && done(responses_);
  }

  std::vector<etcdserverpb::WatchResponse> Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return responses_;
  }

  // Number of events received so far (cheap: no copy).
  size_t EventCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  bool ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }

 private:
  void ReadLoop() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !paused_; });
      }
      etcdserverpb::WatchResponse response;
      if (!stream_->Read(&response)) break;
      if (observer_) observer_(response);
      std::lock_guard<std::mutex> lock(mu_);
      events_ += response.events_size();
      if (!observer_) responses_.push_back(std::move(response));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_;
  const Observer observer_;
  bool ended_ = false;
  size_t events_ = 0;
  std::vector<etcdserverpb::WatchResponse> responses_;
  std::thread reader_;
};

}  // namespace cairn::e2e
