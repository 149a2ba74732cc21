#include "tools/nullserver/null_services.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <set>

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

class WatchReactor;

// Every open watch stream, so that a Put can reach the watches of all of them.
class EventHub {
 public:
  void Add(WatchReactor* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(stream);
  }
  void Remove(WatchReactor* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(stream);
  }
  void Publish(const std::string& key, const std::string& value, int64_t revision);

 private:
  std::mutex mu_;  // held while delivering, so a stream is never removed (and freed) mid-delivery
  std::set<WatchReactor*> streams_;
};

// One Watch stream: its watches, and the responses waiting to be written. Deletes itself
// in OnDone.
class WatchReactor : public grpc::ServerBidiReactor<WatchRequest, WatchResponse> {
 public:
  explicit WatchReactor(EventHub* hub) : hub_(hub) {
    hub_->Add(this);
    StartRead(&request_);
  }

  // Queues the event for every watch of this stream whose range holds `key`.
  void Deliver(const std::string& key, const std::string& value, int64_t revision) {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_) return;
    bool any = false;
    for (const auto& [id, watch] : watches_) {
      if (!InRange(key, watch.key, watch.range_end)) continue;
      auto* event = pending_events_[id].Add();
      auto* kv = event->mutable_kv();
      kv->set_key(key);
      kv->set_value(value);
      kv->set_mod_revision(revision);
      kv->set_create_revision(revision);
      kv->set_version(1);
      any = true;
    }
    if (any) WriteNextLocked(lock);
  }

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
      int64_t id = create.watch_id() != 0 ? create.watch_id() : next_watch_id_++;
      watches_[id] = Watch{create.key(), create.range_end()};
      response.set_watch_id(id);
      response.set_created(true);
    } else if (request_.has_cancel_request()) {
      const int64_t id = request_.cancel_request().watch_id();
      watches_.erase(id);
      pending_events_.erase(id);
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

  // Starts the next write if none is in flight: control responses first, then the events
  // of one watch in a single response.
  void WriteNextLocked(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_ || broken_) return;
    if (!control_.empty()) {
      out_ = std::move(control_.front());
      control_.pop_front();
    } else if (!pending_events_.empty()) {
      auto it = pending_events_.begin();
      out_.Clear();
      FillHeader(out_.mutable_header());
      out_.set_watch_id(it->first);
      out_.mutable_events()->Swap(&it->second);
      pending_events_.erase(it);
    } else {
      MaybeFinishLocked(lock);
      return;
    }
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
  std::mutex mu_;
  std::map<int64_t, Watch> watches_;
  std::map<int64_t, google::protobuf::RepeatedPtrField<mvccpb::Event>> pending_events_;
  std::deque<WatchResponse> control_;
  WatchResponse out_;
  int64_t next_watch_id_ = 1;
  bool reading_ = true;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

void EventHub::Publish(const std::string& key, const std::string& value, int64_t revision) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WatchReactor* stream : streams_) stream->Deliver(key, value, revision);
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
  explicit NullKV(EventHub* hub) : hub_(hub) {}

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
    return Done(context);
  }
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* context, const etcdserverpb::TxnRequest* request,
                                etcdserverpb::TxnResponse* response) override {
    g_revision.fetch_add(1, std::memory_order_relaxed);
    FillHeader(response->mutable_header());
    response->set_succeeded(true);
    for (int i = 0; i < request->success_size(); ++i) response->add_responses();
    return Done(context);
  }

 private:
  EventHub* const hub_;
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

absl::Status RunNullServer(const std::string& address, const std::function<void(int port)>& on_listening,
                           const std::function<void()>& wait_for_stop) {
  EventHub hub;
  NullKV kv(&hub);
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
