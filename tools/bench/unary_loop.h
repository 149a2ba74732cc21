// A closed request loop over gRPC's callback API: one request in flight, the next one sent
// from the completion callback of the previous, so a handful of gRPC threads keep any
// number of loops busy. Included only by the translation units that already include the
// generated gRPC code.
//
// Thread safety: a loop's methods run one at a time (each call's callback starts the next
// call); the LoadControl, Pacer and BlockingCounter it points to are shared and thread-safe.
// Ownership: the loop borrows everything it points to; they must outlive Wait() on `done`.
#ifndef CAIRN_TOOLS_BENCH_UNARY_LOOP_H_
#define CAIRN_TOOLS_BENCH_UNARY_LOOP_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/blocking_counter.h"
#include "tools/bench/histogram.h"
#include "tools/bench/load_control.h"

namespace cairn::bench {

// Sends `*request` on `stub` and calls `done` with the status when `*response` is filled.
template <typename Stub, typename Request, typename Response>
using UnaryCall = void (*)(Stub* stub, grpc::ClientContext* context, const Request* request, Response* response,
                           std::function<void(grpc::Status)> done);

template <typename Stub, typename Request, typename Response>
class UnaryLoop {
 public:
  // `fill` rewrites the request for the request numbered `sequence`, just before it is sent.
  using Fill = std::function<void(int64_t sequence, Request* request)>;

  UnaryLoop(Stub* stub, UnaryCall<Stub, Request, Response> call, Fill fill, LoadControl* control, Pacer* pacer,
            absl::BlockingCounter* done, double timeout_s)
      : stub_(stub),
        call_(call),
        fill_(std::move(fill)),
        control_(control),
        pacer_(pacer),
        done_(done),
        timeout_(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout_s))) {}

  // Claims and sends the next request, or counts `done` down once there is none left.
  void Next() {
    Clock::time_point not_before;
    if (!control_->Claim(&sequence_, &not_before)) {
      done_->DecrementCount();
      return;
    }
    // A callback that runs inline (a failing channel can do that) would otherwise recurse
    // once per request; past a few levels the next send goes through the pacer's thread.
    thread_local int depth = 0;
    if (depth > 8 && not_before <= Clock::now()) not_before = Clock::now() + std::chrono::microseconds(1);
    ++depth;
    SendAt(*pacer_, not_before, [this] { Send(); });
    --depth;
  }

  const Histogram& latency() const { return latency_; }

 private:
  void Send() {
    fill_(sequence_, &request_);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + timeout_);
    sent_ = NowNanos();
    call_(stub_, context_.get(), &request_, &response_, [this](grpc::Status status) { OnDone(status); });
  }

  void OnDone(const grpc::Status& status) {
    if (status.ok()) {
      latency_.Record(NowNanos() - sent_);
      control_->Completed();
    } else {
      control_->Failed(std::to_string(status.error_code()) + ": " + status.error_message());
    }
    Next();
  }

  Stub* const stub_;
  const UnaryCall<Stub, Request, Response> call_;
  const Fill fill_;
  LoadControl* const control_;
  Pacer* const pacer_;
  absl::BlockingCounter* const done_;
  const std::chrono::nanoseconds timeout_;

  int64_t sequence_ = 0;
  Request request_;
  Response response_;
  std::unique_ptr<grpc::ClientContext> context_;
  int64_t sent_ = 0;
  Histogram latency_;
};

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_UNARY_LOOP_H_
