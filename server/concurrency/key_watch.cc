#include "server/concurrency/key_watch.h"

#include "mvccpb/kv.pb.h"

namespace cairn::concurrency {

KeyWatch::KeyWatch(CallScope& scope, Handlers handlers)
    : scope_(scope), handlers_(std::move(handlers)) {}

void KeyWatch::Start(Backend& backend, etcdserverpb::WatchCreateRequest create,
                     CallScope& scope, Handlers handlers) {
  auto* watch = new KeyWatch(scope, std::move(handlers));
  scope.Prepare(*watch->context_);
  if (!scope.Attach(watch->context_)) {
    auto on_end = std::move(watch->handlers_.on_end);
    delete watch;
    on_end(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"));
    return;
  }
  *watch->create_.mutable_create_request() = std::move(create);
  backend.watch().async()->Watch(watch->context_.get(), watch);
  watch->StartWrite(&watch->create_);
  watch->StartRead(&watch->response_);
  watch->StartCall();
}

void KeyWatch::ReadNext() { StartRead(&response_); }

void KeyWatch::Stop() {
  stopped_ = true;
  context_->TryCancel();
}

void KeyWatch::OnReadDone(bool ok) {
  if (!ok) return;  // the stream is ending; OnDone follows with its status
  if (response_.canceled()) {
    if (response_.compact_revision() != 0) {
      watch_error_ = grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                                  "etcdserver: mvcc: required revision has been compacted");
    } else {
      watch_error_ = grpc::Status(grpc::StatusCode::UNKNOWN,
                                  response_.cancel_reason().empty()
                                      ? "watch canceled by the server"
                                      : response_.cancel_reason());
    }
    context_->TryCancel();
    return;
  }
  if (response_.events().empty()) {  // "created" or progress notification
    StartRead(&response_);
    return;
  }
  handlers_.on_events(*this, std::move(response_));
}

void KeyWatch::OnDone(const grpc::Status& status) {
  scope_.Detach(context_.get());
  grpc::Status result = status;
  if (!watch_error_.ok()) {
    result = watch_error_;
  } else if (stopped_) {
    result = grpc::Status::OK;
  } else if (status.ok()) {
    // The backend closed a watch we never asked to stop, e.g. while shutting down.
    result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream closed by the server");
  }
  auto on_end = std::move(handlers_.on_end);
  delete this;
  on_end(result);
}

void WatchForDelete(Backend& backend, const std::string& key, int64_t start_revision,
                    CallScope& scope, std::function<void(const grpc::Status&)> done) {
  etcdserverpb::WatchCreateRequest create;
  create.set_key(key);
  create.set_start_revision(start_revision);
  KeyWatch::Handlers handlers;
  handlers.on_events = [](KeyWatch& watch, etcdserverpb::WatchResponse&& response) {
    for (const auto& event : response.events()) {
      if (event.type() == mvccpb::Event::DELETE) {
        watch.Stop();
        return;
      }
    }
    watch.ReadNext();
  };
  handlers.on_end = std::move(done);
  KeyWatch::Start(backend, std::move(create), scope, std::move(handlers));
}

}  // namespace cairn::concurrency
