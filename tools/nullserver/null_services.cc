#include "tools/nullserver/null_services.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace cairn::nullserver {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

std::atomic<int64_t> g_revision{1};

void FillHeader(etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(1);
  header->set_member_id(1);
  header->set_raft_term(1);
  header->set_revision(g_revision.load(std::memory_order_relaxed));
}

bool InRange(const std::string& key, const std::string& start, const std::string& end) {
  if (end.empty()) return key == start;
  if (key < start) return false;
  return (end.size() == 1 && end[0] == '\0') || key < end;
}

// The durable write of the sync mode: appends to a zero-filled file (wrapping at its end) and
// fdatasyncs before the writes are answered. Group commit, as a store does it: the thread that finds
// no sync in progress writes and syncs everything queued, again and again until the queue is empty,
// then answers those writes; other threads only queue theirs. One client therefore gets one inline
// sync per put, with no thread hop.
class SyncFile {
 public:
  static constexpr off_t kBytes = 16 << 20;
  ~SyncFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) return absl::UnavailableError("cannot create " + path);
    const std::string zeros(1 << 20, '\0');
    for (off_t at = 0; at < kBytes; at += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd_, zeros.data(), zeros.size(), at) != static_cast<ssize_t>(zeros.size())) {
        return absl::UnavailableError("cannot zero-fill " + path);
      }
    }
    if (::fdatasync(fd_) != 0) return absl::UnavailableError("cannot sync " + path);
    return absl::OkStatus();
  }
  bool enabled() const { return fd_ >= 0; }

  // Queues the request's bytes; `answer` runs once they are synced (maybe on this thread, now).
  void Submit(const google::protobuf::Message& request, std::function<void()> answer) {
    std::unique_lock<std::mutex> lock(mu_);
    pending_.push_back({request.SerializeAsString(), std::move(answer)});
    if (syncing_) return;
    syncing_ = true;
    while (!pending_.empty()) {
      std::vector<Pending> batch;
      batch.swap(pending_);
      lock.unlock();
      std::string bytes;
      for (const Pending& p : batch) bytes += p.bytes;
      if (offset_ + static_cast<off_t>(bytes.size()) > kBytes) offset_ = 0;
      if (::pwrite(fd_, bytes.data(), bytes.size(), offset_) == static_cast<ssize_t>(bytes.size())) {
        offset_ += static_cast<off_t>(bytes.size());
      }
      ::fdatasync(fd_);
      for (Pending& p : batch) p.answer();
      lock.lock();
    }
    syncing_ = false;
  }

 private:
  struct Pending {
    std::string bytes;
    std::function<void()> answer;
  };
  int fd_ = -1;
  std::mutex mu_;
  std::vector<Pending> pending_;  // guarded by mu_
  bool syncing_ = false;          // guarded by mu_: a thread is writing and syncing
  off_t offset_ = 0;              // only the syncing thread touches it
};

class WatchReactor;

// The puts a watch stream has yet to see, shared by all streams: Put appends, each stream
// copies what is new when its previous write is done, so events are batched per watch the way
// a real server batches them, and a Put never waits for the fan-out.
class EventLog {
 public:
  struct Entry {
    std::string key;
    std::string value;
    int64_t revision;
  };
  // Appends; returns the position after the entry.
  int64_t Append(Entry entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
    return base_ + static_cast<int64_t>(entries_.size());
  }
  int64_t End() {
    std::lock_guard<std::mutex> lock(mu_);
    return base_ + static_cast<int64_t>(entries_.size());
  }
  // Copies up to `max` entries from *cursor on and advances it.
  std::vector<Entry> Since(int64_t* cursor, size_t max) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Entry> out;
    if (*cursor < base_) *cursor = base_;
    for (int64_t i = *cursor - base_; i < static_cast<int64_t>(entries_.size()) && out.size() < max; ++i) {
      out.push_back(entries_[i]);
    }
    *cursor += static_cast<int64_t>(out.size());
    return out;
  }
  // Forgets entries before `position` (every stream has read them).
  void TrimTo(int64_t position) {
    std::lock_guard<std::mutex> lock(mu_);
    while (base_ < position && !entries_.empty()) {
      entries_.pop_front();
      ++base_;
    }
  }

 private:
  std::mutex mu_;
  std::deque<Entry> entries_;
  int64_t base_ = 0;
};

// Every open watch stream. Put only appends to the log and wakes the hub's thread, which
// kicks the idle streams: puts never wait for the fan-out, and events that arrive while the
// thread is busy go out together. Lock order: EventHub::mu_, a stream's lock, EventLog's.
class EventHub {
 public:
  EventHub();
  ~EventHub();
  void Add(WatchReactor* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(stream);
    watched_ = true;
  }
  void Remove(WatchReactor* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(stream);
  }
  void Publish(const std::string& key, const std::string& value, int64_t revision);
  EventLog& log() { return log_; }

 private:
  void Loop();

  std::mutex mu_;  // held while kicking streams, so none is removed (and freed) meanwhile
  std::set<WatchReactor*> streams_;
  std::atomic<bool> watched_{false};
  EventLog log_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool quit_ = false;
  std::thread thread_;
};

// One Watch stream: its watches, and the responses waiting to be written. Deletes itself
// in OnDone.
class WatchReactor : public grpc::ServerBidiReactor<WatchRequest, WatchResponse> {
 public:
  explicit WatchReactor(EventHub* hub) : hub_(hub) {
    cursor_ = hub_->log().End();
    hub_->Add(this);
    StartRead(&request_);
  }

  // New events may be waiting: write them if the stream is idle.
  void Kick() {
    std::unique_lock<std::mutex> lock(mu_);
    WriteNextLocked(lock);
  }
  int64_t cursor() const { return cursor_.load(std::memory_order_relaxed); }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ok) {
      reading_ = false;
      MaybeFinishLocked(lock);
      return;
    }
    WatchResponse response;
    FillHeader(response.mutable_header());
    if (request_.has_create_request()) {
      const auto& create = request_.create_request();
      if (watches_.empty()) cursor_ = hub_->log().End();  // nothing before the first watch
      int64_t id = create.watch_id() != 0 ? create.watch_id() : next_watch_id_++;
      watches_[id] = Watch{create.key(), create.range_end()};
      response.set_watch_id(id);
      response.set_created(true);
    } else if (request_.has_cancel_request()) {
      const int64_t id = request_.cancel_request().watch_id();
      watches_.erase(id);
      response.set_watch_id(id);
      response.set_canceled(true);
    } else {
      response.set_watch_id(-1);  // progress notification
    }
    control_.push_back(std::move(response));
    WriteNextLocked(lock);
    lock.unlock();
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;
      MaybeFinishLocked(lock);
      return;
    }
    WriteNextLocked(lock);
  }

  void OnDone() override {
    hub_->Remove(this);
    delete this;
  }

 private:
  struct Watch {
    std::string key;
    std::string range_end;
  };

  // Turns the events that are new since the last batch into one response per watch.
  void FillBatchLocked() {
    int64_t cursor = cursor_.load(std::memory_order_relaxed);
    std::vector<EventLog::Entry> entries = hub_->log().Since(&cursor, 4096);
    cursor_.store(cursor, std::memory_order_relaxed);
    for (const auto& [id, watch] : watches_) {
      WatchResponse response;
      for (const auto& entry : entries) {
        if (!InRange(entry.key, watch.key, watch.range_end)) continue;
        auto* kv = response.add_events()->mutable_kv();
        kv->set_key(entry.key);
        kv->set_value(entry.value);
        kv->set_mod_revision(entry.revision);
        kv->set_create_revision(entry.revision);
        kv->set_version(1);
      }
      if (response.events_size() == 0) continue;
      FillHeader(response.mutable_header());
      response.set_watch_id(id);
      batch_.push_back(std::move(response));
    }
  }

  // Starts the next write if none is in flight: control responses first, then events.
  void WriteNextLocked(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_ || broken_) return;
    if (control_.empty() && batch_.empty()) FillBatchLocked();
    std::deque<WatchResponse>& source = !control_.empty() ? control_ : batch_;
    if (source.empty()) {
      MaybeFinishLocked(lock);
      return;
    }
    out_ = std::move(source.front());
    source.pop_front();
    writing_ = true;
    lock.unlock();
    StartWrite(&out_);
    lock.lock();
  }

  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
    if (finished_ || writing_) return;
    if (reading_ && !broken_) return;
    finished_ = true;
    lock.unlock();
    Finish(grpc::Status::OK);
    lock.lock();
  }

  EventHub* const hub_;
  WatchRequest request_;
  std::atomic<int64_t> cursor_{0};  // next EventLog position this stream has not seen
  std::mutex mu_;
  std::map<int64_t, Watch> watches_;
  std::deque<WatchResponse> control_;
  std::deque<WatchResponse> batch_;
  WatchResponse out_;
  int64_t next_watch_id_ = 1;
  bool reading_ = true;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

EventHub::EventHub() : thread_([this] { Loop(); }) {}

EventHub::~EventHub() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    quit_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void EventHub::Publish(const std::string& key, const std::string& value, int64_t revision) {
  if (!watched_.load(std::memory_order_relaxed)) return;  // nobody ever watched: keep nothing
  log_.Append(EventLog::Entry{key, value, revision});
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (pending_) return;
    pending_ = true;
  }
  wake_.notify_one();
}

void EventHub::Loop() {
  int64_t rounds = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(wake_mu_);
      wake_.wait(lock, [this] { return pending_ || quit_; });
      if (quit_) return;
      pending_ = false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    int64_t oldest = log_.End();
    for (WatchReactor* stream : streams_) {
      stream->Kick();
      oldest = std::min(oldest, stream->cursor());
    }
    if (++rounds % 64 == 0) log_.TrimTo(oldest);
  }
}

class KeepAliveReactor
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveReactor() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ok) {
      reading_ = false;
      MaybeFinishLocked(lock);
      return;
    }
    etcdserverpb::LeaseKeepAliveResponse response;
    FillHeader(response.mutable_header());
    response.set_id(request_.id());
    response.set_ttl(60);
    queue_.push_back(std::move(response));
    WriteNextLocked(lock);
    lock.unlock();
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    WriteNextLocked(lock);
  }

  void OnDone() override { delete this; }

 private:
  void WriteNextLocked(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_) return;
    if (queue_.empty() || broken_) {
      MaybeFinishLocked(lock);
      return;
    }
    out_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    StartWrite(&out_);
    lock.lock();
  }

  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
    if (finished_ || writing_ || (reading_ && !broken_)) return;
    finished_ = true;
    lock.unlock();
    Finish(grpc::Status::OK);
    lock.lock();
  }

  etcdserverpb::LeaseKeepAliveRequest request_;
  std::mutex mu_;
  std::deque<etcdserverpb::LeaseKeepAliveResponse> queue_;
  etcdserverpb::LeaseKeepAliveResponse out_;
  bool reading_ = true;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

class NullKV final : public etcdserverpb::KV::CallbackService {
 public:
  NullKV(EventHub* hub, SyncFile* sync) : hub_(hub), sync_(sync) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* context, const etcdserverpb::RangeRequest*,
                                  etcdserverpb::RangeResponse* response) override {
    FillHeader(response->mutable_header());
    return Done(context);
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context, const etcdserverpb::PutRequest* request,
                                etcdserverpb::PutResponse* response) override {
    const int64_t revision = g_revision.fetch_add(1, std::memory_order_relaxed) + 1;
    hub_->Publish(request->key(), request->value(), revision);
    FillHeader(response->mutable_header());
    return Durably(context, *request);
  }
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* context, const etcdserverpb::TxnRequest* request,
                                etcdserverpb::TxnResponse* response) override {
    g_revision.fetch_add(1, std::memory_order_relaxed);
    FillHeader(response->mutable_header());
    response->set_succeeded(true);
    for (int i = 0; i < request->success_size(); ++i) response->add_responses();
    return Durably(context, *request);
  }

 private:
  // Answers at once, or (sync mode) once the request is synced.
  grpc::ServerUnaryReactor* Durably(grpc::CallbackServerContext* context, const google::protobuf::Message& request) {
    if (!sync_->enabled()) return Done(context);
    auto* reactor = context->DefaultReactor();
    sync_->Submit(request, [reactor] { reactor->Finish(grpc::Status::OK); });
    return reactor;
  }

  EventHub* const hub_;
  SyncFile* const sync_;
};

class NullWatch final : public etcdserverpb::Watch::CallbackService {
 public:
  explicit NullWatch(EventHub* hub) : hub_(hub) {}
  grpc::ServerBidiReactor<WatchRequest, WatchResponse>* Watch(grpc::CallbackServerContext*) override {
    return new WatchReactor(hub_);
  }

 private:
  EventHub* const hub_;
};

class NullLease final : public etcdserverpb::Lease::CallbackService {
 public:
  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* context,
                                       const etcdserverpb::LeaseGrantRequest* request,
                                       etcdserverpb::LeaseGrantResponse* response) override {
    FillHeader(response->mutable_header());
    response->set_id(request->id() != 0 ? request->id() : next_id_.fetch_add(1));
    response->set_ttl(request->ttl());
    return Done(context);
  }
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* context, const etcdserverpb::LeaseRevokeRequest*,
                                        etcdserverpb::LeaseRevokeResponse* response) override {
    FillHeader(response->mutable_header());
    return Done(context);
  }
  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>* LeaseKeepAlive(
      grpc::CallbackServerContext*) override {
    return new KeepAliveReactor();
  }

 private:
  std::atomic<int64_t> next_id_{1000};
};

}  // namespace

absl::Status RunNullServer(const NullServerOptions& options, const std::function<void(int port)>& on_listening,
                           const std::function<void()>& wait_for_stop) {
  const std::string& address = options.address;
  SyncFile sync;
  if (!options.sync_file.empty()) {
    if (absl::Status s = sync.Open(options.sync_file); !s.ok()) return s;
  }
  EventHub hub;
  NullKV kv(&hub, &sync);
  NullWatch watch(&hub);
  NullLease lease;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(&kv);
  builder.RegisterService(&watch);
  builder.RegisterService(&lease);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return absl::UnavailableError("cannot listen on " + address);
  on_listening(port);
  wait_for_stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return absl::OkStatus();
}

}  // namespace cairn::nullserver
