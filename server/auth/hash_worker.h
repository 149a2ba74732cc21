// cairn::auth::HashWorker — one thread that runs slow password work (PBKDF2 hashing and checks) so
// that gRPC's callback threads never block on it. Jobs run one at a time in submission order.
// Thread-safe. The destructor runs the jobs already queued, then joins the thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace cairn::auth {

class HashWorker {
 public:
  HashWorker();
  ~HashWorker();
  HashWorker(const HashWorker&) = delete;
  HashWorker& operator=(const HashWorker&) = delete;

  void Run(std::function<void()> job);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cairn::auth
