// The streaming workloads: watch fan-out, watch latency and lease keep-alive.
#include <grpcpp/grpcpp.h>

#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tools/bench/keys.h"
#include "tools/bench/unary_loop.h"
#include "tools/bench/workloads.h"

namespace cairn::bench {

// What the watch workloads need from a WatchResponse, read straight from its wire bytes: the flags, and per
// event the send stamp at the start of kv.value. Counting events this way instead of building every Event and
// KeyValue keeps the client's cost per event small, so a fast server is not hidden behind its load
// generator. It reads the etcd wire format, so it treats every server alike.
struct WatchResponseSummary {
  bool created = false;
  bool canceled = false;
  std::string cancel_reason;
  std::vector<int64_t> stamps;  // one per event; 0 when the value is shorter than a stamp

  int events() const { return static_cast<int>(stamps.size()); }
};

}  // namespace cairn::bench

namespace grpc {

template <>
class SerializationTraits<cairn::bench::WatchResponseSummary, void> {
 public:
  using Summary = cairn::bench::WatchResponseSummary;

  static Status Serialize(const Summary&, ByteBuffer*, bool*) {
    return Status(StatusCode::UNIMPLEMENTED, "a watch summary is only ever received");
  }

  static Status Deserialize(ByteBuffer* buffer, Summary* out) {
    out->created = out->canceled = false;
    out->cancel_reason.clear();
    out->stamps.clear();
    Slice bytes;
    Status status = buffer->TrySingleSlice(&bytes);
    if (!status.ok()) status = buffer->DumpToSingleSlice(&bytes);
    buffer->Clear();
    if (!status.ok()) return status;
    const uint8_t* p = bytes.begin();
    return ReadResponse(p, bytes.end(), out) ? Status::OK
                                             : Status(StatusCode::INTERNAL, "malformed WatchResponse");
  }

 private:
  static bool Varint(const uint8_t*& p, const uint8_t* end, uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
      const uint8_t byte = *p++;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }

  // Reads a length prefix and checks that the field fits.
  static bool Length(const uint8_t*& p, const uint8_t* end, size_t* length) {
    uint64_t n = 0;
    if (!Varint(p, end, &n) || n > static_cast<uint64_t>(end - p)) return false;
    *length = static_cast<size_t>(n);
    return true;
  }

  static bool Skip(const uint8_t*& p, const uint8_t* end, uint64_t tag) {
    uint64_t ignored = 0;
    size_t length = 0;
    switch (tag & 7) {
      case 0:
        return Varint(p, end, &ignored);
      case 1:
        length = 8;
        break;
      case 2:
        if (!Length(p, end, &length)) return false;
        break;
      case 5:
        length = 4;
        break;
      default:
        return false;
    }
    if (length > static_cast<size_t>(end - p)) return false;
    p += length;
    return true;
  }

  // WatchResponse: created = 3, canceled = 4, cancel_reason = 6, events = 11.
  static bool ReadResponse(const uint8_t*& p, const uint8_t* end, Summary* out) {
    while (p < end) {
      uint64_t tag = 0, flag = 0;
      size_t length = 0;
      if (!Varint(p, end, &tag)) return false;
      switch (tag) {
        case (3 << 3) | 0:
          if (!Varint(p, end, &flag)) return false;
          out->created = flag != 0;
          break;
        case (4 << 3) | 0:
          if (!Varint(p, end, &flag)) return false;
          out->canceled = flag != 0;
          break;
        case (6 << 3) | 2:
          if (!Length(p, end, &length)) return false;
          out->cancel_reason.assign(reinterpret_cast<const char*>(p), length);
          p += length;
          break;
        case (11 << 3) | 2: {
          if (!Length(p, end, &length)) return false;
          int64_t stamp = 0;
          const uint8_t* event = p;
          if (!ReadEvent(event, p + length, &stamp)) return false;
          out->stamps.push_back(stamp);
          p += length;
          break;
        }
        default:
          if (!Skip(p, end, tag)) return false;
      }
    }
    return true;
  }

  // Event: kv = 2. KeyValue: value = 5 (its first 8 bytes are the send stamp).
  static bool ReadEvent(const uint8_t*& p, const uint8_t* end, int64_t* stamp) {
    while (p < end) {
      uint64_t tag = 0;
      size_t length = 0;
      if (!Varint(p, end, &tag)) return false;
      if (tag != ((2 << 3) | 2)) {
        if (!Skip(p, end, tag)) return false;
        continue;
      }
      if (!Length(p, end, &length)) return false;
      const uint8_t* kv = p;
      if (!ReadKeyValue(kv, p + length, stamp)) return false;
      p += length;
    }
    return true;
  }

  static bool ReadKeyValue(const uint8_t*& p, const uint8_t* end, int64_t* stamp) {
    while (p < end) {
      uint64_t tag = 0;
      size_t length = 0;
      if (!Varint(p, end, &tag)) return false;
      if (tag != ((5 << 3) | 2)) {
        if (!Skip(p, end, tag)) return false;
        continue;
      }
      if (!Length(p, end, &length)) return false;
      *stamp = 0;
      if (length >= sizeof(int64_t)) std::memcpy(stamp, p, sizeof(int64_t));
      p += length;
    }
    return true;
  }
};

}  // namespace grpc

namespace cairn::bench {
namespace {

using etcdserverpb::KV;
using etcdserverpb::Lease;

// gRPC allows one outstanding write per stream; this queues the rest and starts the next
// one from OnWriteDone.
template <typename Request>
class WriteQueue {
 public:
  // Returns the request to start writing now, or nullptr if a write is already in flight.
  const Request* Push(Request request) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(request));
    if (busy_) return nullptr;
    busy_ = true;
    return &queue_.front();
  }
  // After a write completed: the next request to write, or nullptr.
  const Request* Done() {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.pop_front();
    if (queue_.empty()) {
      busy_ = false;
      return nullptr;
    }
    return &queue_.front();
  }

 private:
  std::mutex mu_;
  std::deque<Request> queue_;  // front: the request being written
  bool busy_ = false;
};

// ----------------------------------------------------------------------------- watch

struct WatchShared {
  std::atomic<int64_t> expected{0};
  std::atomic<int64_t> delivered{0};
  std::atomic<bool> notified{false};
  std::atomic<int64_t> last_delivery_ns{0};
  std::atomic<int64_t> errors{0};
  std::atomic<bool> stopping{false};
  absl::Notification all_delivered;
  absl::BlockingCounter* created;  // one count per watcher
  absl::BlockingCounter* closed;   // one count per stream
  std::mutex error_mu;
  std::string first_error;

  void Fail(const std::string& message) {
    if (stopping.load()) return;
    if (errors.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(error_mu);
      first_error = message;
    }
  }
};

class WatchStream : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, WatchResponseSummary> {
 public:
  WatchStream(const std::shared_ptr<grpc::Channel>& channel, int watchers, const std::string& prefix,
              WatchShared* shared)
      : watchers_(watchers),
        shared_(shared),
        method_("/etcdserverpb.Watch/Watch", grpc::internal::RpcMethod::BIDI_STREAMING, channel) {
    grpc::internal::ClientCallbackReaderWriterFactory<etcdserverpb::WatchRequest, WatchResponseSummary>::Create(
        channel.get(), method_, &context_, this);
    for (int i = 0; i < watchers; ++i) {
      etcdserverpb::WatchRequest request;
      request.mutable_create_request()->set_key(prefix);
      request.mutable_create_request()->set_range_end(PrefixEnd(prefix));
      if (const auto* first = writes_.Push(std::move(request))) StartWrite(first);
    }
    StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }
  const Histogram& latency() const { return latency_; }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      shared_->Fail("watch stream: write failed");
      return;
    }
    if (const auto* next = writes_.Done()) StartWrite(next);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      shared_->Fail("watch stream ended early");
      // Watchers that never got created would keep the setup waiting forever.
      for (; created_ < watchers_; ++created_) shared_->created->DecrementCount();
      return;
    }
    if (response_.created && created_ < watchers_) {
      ++created_;
      shared_->created->DecrementCount();
    }
    if (response_.canceled) shared_->Fail("watch canceled: " + response_.cancel_reason);
    if (const int n = response_.events(); n > 0) {
      const int64_t now = NowNanos();
      for (const int64_t stamp : response_.stamps) latency_.Record(now - stamp);
      shared_->last_delivery_ns.store(now, std::memory_order_relaxed);
      const int64_t before = shared_->delivered.fetch_add(n, std::memory_order_relaxed);
      if (before + n >= shared_->expected.load() && !shared_->notified.exchange(true)) {
        shared_->all_delivered.Notify();
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status&) override { shared_->closed->DecrementCount(); }

 private:
  const int watchers_;
  WatchShared* const shared_;
  const grpc::internal::RpcMethod method_;
  grpc::ClientContext context_;
  WriteQueue<etcdserverpb::WatchRequest> writes_;
  WatchResponseSummary response_;
  int created_ = 0;  // only touched from OnReadDone, which never runs concurrently with itself
  Histogram latency_;
};

// ----------------------------------------------------------------------------- lease

class KeepAliveStream
    : public grpc::ClientBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveStream(Lease::Stub* stub, int64_t lease_id, LoadControl* control, Pacer* pacer,
                  absl::BlockingCounter* closed)
      : lease_id_(lease_id), control_(control), pacer_(pacer), closed_(closed) {
    stub->async()->LeaseKeepAlive(&context_, this);
    StartCall();
  }

  // Sends the first keep-alive; each response sends the next until the total is used up.
  void Next() {
    Clock::time_point not_before;
    if (!control_->Claim(&sequence_, &not_before)) {
      finishing_ = true;
      context_.TryCancel();
      return;
    }
    SendAt(*pacer_, not_before, [this] {
      etcdserverpb::LeaseKeepAliveRequest request;
      request.set_id(lease_id_);
      sent_ = NowNanos();
      if (const auto* first = writes_.Push(std::move(request))) StartWrite(first);
      StartRead(&response_);
    });
  }

  const Histogram& latency() const { return latency_; }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the read side reports the failure
    if (const auto* next = writes_.Done()) StartWrite(next);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (!finishing_) control_->Failed("keep-alive stream ended early");
      return;
    }
    if (response_.ttl() > 0) {
      latency_.Record(NowNanos() - sent_);
      control_->Completed();
    } else {
      control_->Failed("lease not found (TTL <= 0)");
    }
    Next();
  }

  void OnDone(const grpc::Status&) override { closed_->DecrementCount(); }

 private:
  const int64_t lease_id_;
  LoadControl* const control_;
  Pacer* const pacer_;
  absl::BlockingCounter* const closed_;
  grpc::ClientContext context_;
  WriteQueue<etcdserverpb::LeaseKeepAliveRequest> writes_;
  etcdserverpb::LeaseKeepAliveResponse response_;
  int64_t sequence_ = 0;
  int64_t sent_ = 0;
  std::atomic<bool> finishing_{false};
  Histogram latency_;
};

std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

absl::StatusOr<Result> RunWatch(const Options& o, const Channels& channels) {
  std::vector<std::unique_ptr<KV::Stub>> kv_stubs;
  for (const auto& channel : channels) kv_stubs.push_back(KV::NewStub(channel));
  absl::BlockingCounter created(o.watchers);
  absl::BlockingCounter closed(o.watch_streams);
  WatchShared shared;
  shared.expected = static_cast<int64_t>(o.watchers) * o.total;
  shared.created = &created;
  shared.closed = &closed;

  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int s = 0; s < o.watch_streams; ++s) {
    const int watchers = o.watchers / o.watch_streams + (s < o.watchers % o.watch_streams ? 1 : 0);
    streams.push_back(
        std::make_unique<WatchStream>(channels[s % channels.size()], watchers, o.prefix, &shared));
  }
  created.Wait();

  // Putters write under the watched prefix; every value carries its send time.
  LoadControl control(o.total, o.rate);
  Pacer pacer;
  absl::BlockingCounter putters_done(o.clients);
  using PutLoop = UnaryLoop<KV::Stub, etcdserverpb::PutRequest, etcdserverpb::PutResponse>;
  std::vector<std::unique_ptr<PutLoop>> putters;
  const std::string value = MakeValue(std::max(o.val_size, 8));
  for (int i = 0; i < o.clients; ++i) {
    KeyPicker picker(o.prefix, o.key_size, o.key_space_size, o.sequential_keys, i);
    putters.push_back(std::make_unique<PutLoop>(
        kv_stubs[i % kv_stubs.size()].get(),
        [](KV::Stub* stub, grpc::ClientContext* c, const etcdserverpb::PutRequest* req,
           etcdserverpb::PutResponse* resp,
           std::function<void(grpc::Status)> done) { stub->async()->Put(c, req, resp, std::move(done)); },
        [picker, value](int64_t sequence, etcdserverpb::PutRequest* req) mutable {
          req->set_key(picker.Pick(sequence));
          std::string stamped = value;
          StampValue(&stamped, NowNanos());
          req->set_value(std::move(stamped));
        },
        &control, &pacer, &putters_done, o.timeout_s));
  }

  Result result;
  {
    ProgressBar bar(control, o.total, o.progress && !o.json);
    const double cpu_before = ProcessCpuSeconds();
    control.Start();
    const int64_t start_ns = NowNanos();
    for (auto& putter : putters) putter->Next();
    putters_done.Wait();
    result.put_seconds = std::chrono::duration<double>(Clock::now() - control.start_time()).count();
    // Events lost on the way (or puts that failed) must not hang the run.
    shared.expected = static_cast<int64_t>(o.watchers) * control.completed();
    if (shared.delivered.load() >= shared.expected.load()) shared.notified = true;
    if (shared.delivered.load() < shared.expected.load()) {
      shared.all_delivered.WaitForNotificationWithTimeout(absl::Seconds(o.timeout_s));
    }
    const int64_t end_ns = std::max(shared.last_delivery_ns.load(), start_ns);
    result.seconds = (end_ns - start_ns) / 1e9;
    result.client_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  }
  shared.stopping = true;
  for (auto& stream : streams) stream->Cancel();
  closed.Wait();

  for (const auto& stream : streams) result.latency.Merge(stream->latency());
  result.requests = shared.delivered.load();
  result.puts = control.completed();
  result.events_expected = shared.expected;
  result.errors = control.errors() + shared.errors.load() + std::max<int64_t>(0, shared.expected.load() - result.requests);
  result.first_error = control.errors() ? control.first_error() : shared.first_error;
  if (result.first_error.empty() && result.requests < shared.expected.load()) {
    result.first_error = absl::StrCat(shared.expected.load() - result.requests, " events not delivered within ",
                                      o.timeout_s, " s");
  }
  return result;
}

absl::StatusOr<Result> RunLeaseKeepAlive(const Options& o, const Channels& channels) {
  std::vector<std::unique_ptr<Lease::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(Lease::NewStub(channel));
  std::vector<int64_t> leases;
  for (int i = 0; i < o.clients; ++i) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(o.timeout_s));
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(o.lease_ttl);
    etcdserverpb::LeaseGrantResponse response;
    grpc::Status status = stubs[i % stubs.size()]->LeaseGrant(&context, request, &response);
    if (!status.ok()) return absl::UnavailableError(absl::StrCat("LeaseGrant: ", status.error_message()));
    leases.push_back(response.id());
  }

  LoadControl control(o.total, o.rate);
  Pacer pacer;
  absl::BlockingCounter closed(o.clients);
  std::vector<std::unique_ptr<KeepAliveStream>> streams;
  for (int i = 0; i < o.clients; ++i) {
    streams.push_back(
        std::make_unique<KeepAliveStream>(stubs[i % stubs.size()].get(), leases[i], &control, &pacer, &closed));
  }
  Result result;
  {
    ProgressBar bar(control, o.total, o.progress && !o.json);
    const double cpu_before = ProcessCpuSeconds();
    control.Start();
    for (auto& stream : streams) stream->Next();
    closed.Wait();
    result.seconds = std::chrono::duration<double>(Clock::now() - control.start_time()).count();
    result.client_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  }
  for (const auto& stream : streams) result.latency.Merge(stream->latency());
  result.requests = control.completed();
  result.errors = control.errors();
  result.first_error = control.first_error();

  for (size_t i = 0; i < leases.size(); ++i) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(o.timeout_s));
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(leases[i]);
    etcdserverpb::LeaseRevokeResponse response;
    stubs[i % stubs.size()]->LeaseRevoke(&context, request, &response);  // best effort
  }
  return result;
}

}  // namespace cairn::bench
