#include "server/concurrency/observe_operation.h"

#include <deque>
#include <functional>

#include "mvccpb/kv.pb.h"
#include "server/concurrency/call_scope.h"
#include "server/concurrency/errors.h"
#include "server/concurrency/key_watch.h"
#include "server/concurrency/keys.h"

namespace cairn::concurrency {
namespace {

class ObserveOperation final : public grpc::ServerWriteReactor<v3electionpb::LeaderResponse> {
 public:
  ObserveOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                   const std::string& name)
      : backend_(std::move(backend)), prefix_(ContenderPrefix(name)), scope_(caller) {}

  void Start() { FindLeader(); }

  void OnCancel() override { scope_.Cancel(); }
  void OnDone() override { delete this; }

  void OnWriteDone(bool ok) override {
    outbox_.pop_front();
    if (!ok) {
      // The observer is gone. Cancelling the scope makes whatever comes next end the call.
      scope_.Cancel();
      outbox_.clear();
    }
    SendNext();
  }

 private:
  void FindLeader() {
    backend_->Range(OldestContender(prefix_), scope_,
                    [this](const grpc::Status& status, etcdserverpb::RangeResponse&& response) {
                      if (!status.ok()) return End(ForCaller(status));
                      if (response.kvs().empty()) {
                        return WaitForFirstCandidate(response.header().revision());
                      }
                      Announce(std::move(*response.mutable_header()),
                               std::move(*response.mutable_kvs(0)));
                    });
  }

  void WaitForFirstCandidate(int64_t from_revision) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(prefix_);
    create.set_range_end(PrefixRangeEnd(prefix_));
    create.set_start_revision(from_revision);
    KeyWatch::Handlers handlers;
    handlers.on_events = [this](KeyWatch& watch, etcdserverpb::WatchResponse&& response) {
      for (auto& event : *response.mutable_events()) {
        if (event.type() != mvccpb::Event::PUT) continue;
        // The first put is the first candidate; later puts in this batch campaign behind it.
        first_header_ = response.header();
        first_header_.set_revision(event.kv().mod_revision());
        first_kv_ = std::move(*event.mutable_kv());
        watch.Stop();
        return;
      }
      watch.ReadNext();
    };
    handlers.on_end = [this](const grpc::Status& status) {
      if (!status.ok()) return End(ForCaller(status));
      Announce(std::move(first_header_), std::move(first_kv_));
    };
    KeyWatch::Start(*backend_, std::move(create), scope_, std::move(handlers));
  }

  // Sends the leader's key-value, then follows that key until it is deleted.
  void Announce(etcdserverpb::ResponseHeader&& header, mvccpb::KeyValue&& kv) {
    const int64_t follow_from = header.revision() + 1;
    std::string key = kv.key();
    Queue(std::move(header), std::move(kv));
    after_sent_ = [this, key = std::move(key), follow_from] { FollowLeader(key, follow_from); };
    SendNext();
  }

  void FollowLeader(const std::string& key, int64_t from_revision) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(key);
    create.set_start_revision(from_revision);
    KeyWatch::Handlers handlers;
    handlers.on_events = [this](KeyWatch& watch, etcdserverpb::WatchResponse&& response) {
      bool leader_gone = false;
      for (auto& event : *response.mutable_events()) {
        if (event.type() == mvccpb::Event::DELETE) {
          leader_gone = true;
          break;
        }
        Queue(etcdserverpb::ResponseHeader(response.header()), std::move(*event.mutable_kv()));
      }
      after_sent_ = [&watch, leader_gone] { leader_gone ? watch.Stop() : watch.ReadNext(); };
      SendNext();
    };
    handlers.on_end = [this](const grpc::Status& status) {
      if (!status.ok()) return End(ForCaller(status));
      FindLeader();  // the leader's key was deleted: whoever is oldest now leads
    };
    KeyWatch::Start(*backend_, std::move(create), scope_, std::move(handlers));
  }

  void Queue(etcdserverpb::ResponseHeader&& header, mvccpb::KeyValue&& kv) {
    v3electionpb::LeaderResponse& message = outbox_.emplace_back();
    *message.mutable_header() = std::move(header);
    *message.mutable_kv() = std::move(kv);
  }

  // Writes the front of the outbox, or, when it is empty, runs the step waiting for that.
  void SendNext() {
    if (!outbox_.empty()) return StartWrite(&outbox_.front());
    if (scope_.cancelled()) {
      // Let a pending watch wind down through its own on_end; otherwise end here.
      if (!after_sent_) return End(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"));
    }
    auto next = std::move(after_sent_);
    after_sent_ = nullptr;
    next();
  }

  void End(const grpc::Status& status) { Finish(status); }

  std::shared_ptr<Backend> backend_;
  const std::string prefix_;
  CallScope scope_;
  std::deque<v3electionpb::LeaderResponse> outbox_;
  std::function<void()> after_sent_;
  etcdserverpb::ResponseHeader first_header_;
  mvccpb::KeyValue first_kv_;
};

}  // namespace

grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* StartObserve(
    std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
    const std::string& name) {
  auto* operation = new ObserveOperation(std::move(backend), caller, name);
  operation->Start();
  return operation;
}

}  // namespace cairn::concurrency
