#include "tools/ctl/watcher.h"

#include <chrono>
#include <thread>

namespace cairn::ctl {

void ResumingWatcher::Stop() {
  stopped_ = true;
  std::lock_guard<std::mutex> l(mu_);
  if (active_ != nullptr) active_->Cancel();
}

absl::Status ResumingWatcher::Run(const Callback& on_response) {
  int64_t next_rev = request_.start_revision();
  while (!stopped_) {
    auto client = Client::Connect(config_);
    if (!client.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    auto stream = (*client)->Watch();
    if (!stream.ok()) return stream.status();
    {
      std::lock_guard<std::mutex> l(mu_);
      active_ = stream->get();
    }
    if (stopped_) (*stream)->Cancel();
    etcdserverpb::WatchRequest req;
    *req.mutable_create_request() = request_;
    req.mutable_create_request()->set_start_revision(next_rev);
    (*stream)->Send(req);
    etcdserverpb::WatchResponse resp;
    etcdserverpb::WatchResponse pending;  // a fragmented response being put back together
    absl::Status outcome = absl::OkStatus();
    bool finished = false;
    while (!finished && (*stream)->Read(&resp)) {
      if (resp.fragment()) {
        for (const auto& e : resp.events()) *pending.add_events() = e;
        continue;
      }
      if (pending.events_size() > 0) {
        for (const auto& e : resp.events()) *pending.add_events() = e;
        resp.mutable_events()->Swap(pending.mutable_events());
        pending.Clear();
      }
      if (resp.created() && !resp.canceled() && resp.events_size() == 0) continue;
      if (resp.events_size() > 0) {
        next_rev = resp.events(resp.events_size() - 1).kv().mod_revision() + 1;
      }
      if (!on_response(resp)) {
        finished = true;
        break;
      }
      if (resp.canceled()) {
        std::string reason = resp.cancel_reason();
        if (resp.compact_revision() > 0 && reason.empty()) {
          reason = "etcdserver: mvcc: required revision has been compacted";
        }
        outcome = absl::FailedPreconditionError(reason);
        finished = true;
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      active_ = nullptr;
    }
    if (finished) {
      (*stream)->Cancel();
      (void)(*stream)->Finish();
      return outcome;
    }
    absl::Status broken = (*stream)->Finish();
    if (stopped_) break;
    // Only a lost connection is worth another endpoint; anything else (no Watch service,
    // permission denied, ...) is the answer.
    if (broken.code() != absl::StatusCode::kUnavailable && broken.code() != absl::StatusCode::kOk) {
      return broken;
    }
    // The stream broke (member gone, connection lost): reconnect and resume.
    if (!stopped_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::OkStatus();
}

}  // namespace cairn::ctl
