// A watch that survives endpoint failures: it (re)connects through Client::Connect, which
// tries every endpoint, and resumes after the last revision it delivered, so each event
// is delivered once and in order even when the member it was talking to goes away.
// Run() blocks; Stop() may be called from any thread (e.g. a signal thread).
#ifndef CAIRN_TOOLS_CTL_WATCHER_H_
#define CAIRN_TOOLS_CTL_WATCHER_H_

#include <atomic>
#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "tools/ctl/client.h"

namespace cairn::ctl {

class ResumingWatcher {
 public:
  // `on_response` gets every response that carries events, a progress notification or a
  // cancellation (created notifications are swallowed, as clientv3 does); return false to
  // stop watching.
  using Callback = std::function<bool(const etcdserverpb::WatchResponse&)>;

  ResumingWatcher(ClientConfig config, etcdserverpb::WatchCreateRequest request)
      : config_(std::move(config)), request_(std::move(request)) {}

  // Returns OK when stopped by the callback or Stop(); FailedPrecondition with the
  // server's reason when the server cancelled the watch (e.g. compacted revision).
  absl::Status Run(const Callback& on_response);
  void Stop();

 private:
  ClientConfig config_;
  etcdserverpb::WatchCreateRequest request_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  WatchStream* active_ = nullptr;
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_WATCHER_H_
