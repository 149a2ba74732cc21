// Keep-alive throughput, printed, never asserted. Disabled by default; run by hand:
//   lease_throughput_test --gtest_also_run_disabled_tests
// measures the in-process service; with LEASE_BENCH_ENDPOINT=host:port it measures that endpoint
// instead (e.g. a real etcd 3.4) with the same client, for a side-by-side figure.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "tests/lease/service_fixture.h"

namespace cairn::lease {
namespace {

using testing::KeepAliveStream;
using testing::LeaseServiceTest;

constexpr int kStreams = 4;
constexpr int kInFlightPerStream = 128;
constexpr int kLeases = 1000;
constexpr auto kDuration = std::chrono::seconds(3);

class KeepAliveThroughput : public LeaseServiceTest {
 protected:
  void SetUp() override {
    StartServer(/*fake_clock=*/false);
    if (const char* endpoint = std::getenv("LEASE_BENCH_ENDPOINT")) {
      channel_ = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
      stub_ = etcdserverpb::Lease::NewStub(channel_);
      target_ = endpoint;
    }
  }
  std::string target_ = "in-process cairn";
};

TEST_F(KeepAliveThroughput, DISABLED_PipelinedStreams) {
  std::vector<int64_t> ids;
  for (int i = 0; i < kLeases; ++i) ids.push_back(MustGrant(60));
  std::atomic<int64_t> answered{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      grpc::ClientContext context;
      std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
      std::mutex mu;
      std::condition_variable cv;
      int in_flight = 0;
      std::thread reader([&] {
        etcdserverpb::LeaseKeepAliveResponse response;
        while (stream->Read(&response)) {
          answered.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lock(mu);
          --in_flight;
          cv.notify_one();
        }
      });
      etcdserverpb::LeaseKeepAliveRequest request;
      for (size_t i = s; !stop.load(); i += kStreams) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return in_flight < kInFlightPerStream; });
          ++in_flight;
        }
        request.set_id(ids[i % ids.size()]);
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
      reader.join();
      stream->Finish();
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up
  const int64_t start_count = answered.load();
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(kDuration);
  const int64_t end_count = answered.load();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  std::printf("%s: %.0f keep-alives/s (%d streams, %d in flight each, %d leases)\n", target_.c_str(),
              (end_count - start_count) / secs, kStreams, kInFlightPerStream, kLeases);
}

}  // namespace
}  // namespace cairn::lease
