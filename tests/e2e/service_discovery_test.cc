// Service discovery against a real cairnd: 1,000 instances each register /services/<svc>/<id> under
// their own 2-second lease and keep it alive over a few shared LeaseKeepAlive streams; a prefix
// watcher started before registration follows along. Keep-alives then stop for a seeded random half.
// What a user relies on (issue "Watches and leases with etcd's semantics"):
//  - an abandoned instance's key is gone within TTL + 1 s of its last keep-alive;
//  - instances that keep their lease alive stay, however long;
//  - the watcher sees one DELETE per vanished key, none for the others, in revision order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/e2e/cairnd_process.h"
#include "tests/e2e/e2e_client.h"

namespace cairn::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kInstances = 1000;
constexpr int kServices = 10;
constexpr int64_t kTtlSeconds = 2;
constexpr int kKeepAliveStreams = 4;
constexpr milliseconds kKeepAliveEvery{500};
constexpr int kRegistrationThreads = 16;
// Client-chosen lease IDs make lease → instance a subtraction (etcd accepts client IDs).
constexpr int64_t kLeaseBase = 0x5e55000000;

std::string KeyOf(int instance) {
  return "/services/svc-" + std::to_string(instance % kServices) + "/instance-" + std::to_string(instance);
}

uint32_t Seed() {
  const char* env = std::getenv("E2E_SEED");
  return env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20261125u;
}

enum class KeepAlive : int { kNotYet = 0, kOn = 1, kStopped = 2 };

struct Instance {
  std::atomic<int> keep_alive{static_cast<int>(KeepAlive::kNotYet)};
  std::atomic<int64_t> last_answer_ns{0};  // steady clock, last keep-alive answer with TTL > 0
  std::atomic<int> answers{0};
  std::atomic<bool> answered_zero_ttl{false};
};

// One LeaseKeepAlive stream carrying the keep-alives of every instance i with i % streams == index.
class KeepAliveStream {
 public:
  KeepAliveStream(etcdserverpb::Lease::Stub* lease, std::vector<Instance>* instances, int index)
      : instances_(instances), index_(index) {
    stream_ = lease->LeaseKeepAlive(&context_);
    reader_ = std::thread([this] { ReadLoop(); });
    writer_ = std::thread([this] { WriteLoop(); });
  }
  ~KeepAliveStream() { Close(); }

  void Close() {
    if (closed_.exchange(true)) return;
    writer_.join();
    context_.TryCancel();
    reader_.join();
  }

  bool write_failed() const { return write_failed_.load(); }

 private:
  void WriteLoop() {
    auto round = Clock::now();
    while (!closed_.load()) {
      for (int i = index_; i < kInstances; i += kKeepAliveStreams) {
        if ((*instances_)[i].keep_alive.load() != static_cast<int>(KeepAlive::kOn)) continue;
        etcdserverpb::LeaseKeepAliveRequest request;
        request.set_id(kLeaseBase + i);
        if (!stream_->Write(request)) {
          write_failed_ = true;
          return;
        }
      }
      round += kKeepAliveEvery;
      while (!closed_.load() && Clock::now() < round) std::this_thread::sleep_for(milliseconds(10));
    }
  }

  void ReadLoop() {
    etcdserverpb::LeaseKeepAliveResponse response;
    while (stream_->Read(&response)) {
      const int64_t i = response.id() - kLeaseBase;
      if (i < 0 || i >= kInstances) continue;
      Instance& instance = (*instances_)[i];
      if (response.ttl() <= 0) {
        instance.answered_zero_ttl = true;
        continue;
      }
      instance.last_answer_ns = Clock::now().time_since_epoch().count();
      instance.answers.fetch_add(1);
    }
  }

  std::vector<Instance>* instances_;
  const int index_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                           etcdserverpb::LeaseKeepAliveResponse>>
      stream_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> write_failed_{false};
  std::thread reader_;
  std::thread writer_;
};

class ServiceDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CairndAvailable()) GTEST_SKIP() << "cairnd not found at " << CairndPath() << " (set CAIRND)";
    dir_ = std::make_unique<TempDir>("discovery");
    cairnd_ = std::make_unique<CairndProcess>(dir_->path());
    const absl::Status started = cairnd_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  void TearDown() override {
    if (cairnd_ != nullptr) cairnd_->Stop(SIGKILL);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<CairndProcess> cairnd_;
};

TEST_F(ServiceDiscoveryTest, AbandonedInstancesVanishKeptOnesStayWatcherSeesEachDeleteOnce) {
  const uint32_t seed = Seed();
  SCOPED_TRACE("E2E_SEED=" + std::to_string(seed));
  auto channel = cairnd_->NewChannel();
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto lease = etcdserverpb::Lease::NewStub(channel);
  auto watch_channel = cairnd_->NewChannel();
  auto watch_stub = etcdserverpb::Watch::NewStub(watch_channel);

  // The watcher comes first, so it sees every registration and every departure.
  WatchClient watcher(watch_stub.get());
  ASSERT_TRUE(watcher.Create("/services/", PrefixEnd("/services/")));
  ASSERT_TRUE(watcher.WaitFor([](const auto& r) { return !r.empty() && r[0].created(); }, seconds(10)))
      << "watch on /services/ not created";

  std::vector<Instance> instances(kInstances);
  std::vector<std::unique_ptr<KeepAliveStream>> streams;
  auto keepalive_channel = cairnd_->NewChannel();
  auto keepalive_stub = etcdserverpb::Lease::NewStub(keepalive_channel);
  for (int s = 0; s < kKeepAliveStreams; ++s) {
    streams.push_back(std::make_unique<KeepAliveStream>(keepalive_stub.get(), &instances, s));
  }

  // Registration: grant, start keeping alive at once, then put the key under the lease.
  std::atomic<int> next{0};
  std::mutex errors_mu;
  std::vector<std::string> errors;
  std::vector<std::thread> registrars;
  for (int t = 0; t < kRegistrationThreads; ++t) {
    registrars.emplace_back([&] {
      for (int i = next.fetch_add(1); i < kInstances; i = next.fetch_add(1)) {
        etcdserverpb::LeaseGrantRequest grant;
        grant.set_id(kLeaseBase + i);
        grant.set_ttl(kTtlSeconds);
        etcdserverpb::LeaseGrantResponse granted;
        grpc::ClientContext context;
        SetDeadline(&context);
        grpc::Status status = lease->LeaseGrant(&context, grant, &granted);
        if (status.ok() && (granted.id() != kLeaseBase + i || granted.ttl() != kTtlSeconds)) {
          status = grpc::Status(grpc::StatusCode::INTERNAL, "grant answered id " + std::to_string(granted.id()) +
                                                                " ttl " + std::to_string(granted.ttl()));
        }
        if (status.ok()) {
          instances[i].last_answer_ns = Clock::now().time_since_epoch().count();
          instances[i].keep_alive = static_cast<int>(KeepAlive::kOn);
          status = Put(kv.get(), KeyOf(i), "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80",
                       kLeaseBase + i);
        }
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(errors_mu);
          errors.push_back("instance " + std::to_string(i) + ": " + status.error_message());
        }
      }
    });
  }
  for (auto& t : registrars) t.join();
  ASSERT_TRUE(errors.empty()) << errors.size() << " registrations failed, first: " << errors.front();

  const auto all_registered = Clock::now() + seconds(10);
  while (watcher.EventCount() < kInstances && Clock::now() < all_registered) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(watcher.EventCount(), static_cast<size_t>(kInstances)) << "watcher did not see every registration";

  // Two keep-alive rounds, so every lease has been renewed through a stream at least once.
  std::this_thread::sleep_for(kKeepAliveEvery * 2 + milliseconds(200));
  for (int i = 0; i < kInstances; ++i) {
    ASSERT_GT(instances[i].answers.load(), 0) << "lease of instance " << i << " never got a keep-alive answer";
  }

  // A seeded random half stops its keep-alives.
  std::vector<int> order(kInstances);
  for (int i = 0; i < kInstances; ++i) order[i] = i;
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::set<int> abandoned(order.begin(), order.begin() + kInstances / 2);
  std::map<std::string, int> instance_of_key;
  for (int i = 0; i < kInstances; ++i) instance_of_key[KeyOf(i)] = i;
  for (int i : abandoned) instances[i].keep_alive = static_cast<int>(KeepAlive::kStopped);
  const auto stopped_at = Clock::now();

  // Poll the prefix. For each abandoned key remember the start of the last Range that still saw it:
  // the key was certainly present at that moment (the Range's snapshot is taken after it is sent).
  std::map<int, Clock::time_point> last_seen_present;
  std::map<int, Clock::time_point> first_seen_absent;  // for the report: an upper bound on each delay
  const auto give_up = stopped_at + seconds(kTtlSeconds + 6);
  size_t abandoned_present = abandoned.size();
  while (abandoned_present > 0 && Clock::now() < give_up) {
    const auto sent = Clock::now();
    etcdserverpb::RangeResponse range;
    const grpc::Status status = RangePrefix(kv.get(), "/services/", /*keys_only=*/true, &range);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const auto received = Clock::now();
    abandoned_present = 0;
    std::set<int> seen_now;
    for (const auto& item : range.kvs()) {
      const int i = instance_of_key.at(item.key());
      if (abandoned.count(i) != 0) {
        last_seen_present[i] = sent;
        seen_now.insert(i);
        ++abandoned_present;
      }
    }
    for (int i : abandoned) {
      if (seen_now.count(i) == 0 && first_seen_absent.count(i) == 0) first_seen_absent[i] = received;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(abandoned_present, 0u) << "abandoned keys still present " << seconds(kTtlSeconds + 6).count()
                                   << " s after their keep-alives stopped";

  const auto bound = seconds(kTtlSeconds) + seconds(1);
  int late = 0;
  std::string first_late;
  for (const auto& [i, seen] : last_seen_present) {
    const Clock::time_point last_answer{Clock::duration(instances[i].last_answer_ns.load())};
    if (seen > last_answer + bound) {
      if (late++ == 0) {
        first_late = KeyOf(i) + " still present " +
                     std::to_string(std::chrono::duration_cast<milliseconds>(seen - last_answer).count()) +
                     " ms after its last keep-alive answer";
      }
    }
  }
  EXPECT_EQ(late, 0) << late << " abandoned keys outlived TTL + 1 s; first: " << first_late;
  milliseconds slowest{0};
  for (const auto& [i, absent] : first_seen_absent) {
    const Clock::time_point last_answer{Clock::duration(instances[i].last_answer_ns.load())};
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(absent - last_answer));
  }
  std::printf("abandoned keys gone at most %lld ms after their last keep-alive answer (bound %lld ms)\n",
              static_cast<long long>(slowest.count()),
              static_cast<long long>(std::chrono::duration_cast<milliseconds>(bound).count()));

  // The kept half must survive 2 x TTL more with their keep-alives running.
  std::this_thread::sleep_for(seconds(2 * kTtlSeconds));
  etcdserverpb::RangeResponse survivors;
  ASSERT_TRUE(RangePrefix(kv.get(), "/services/", /*keys_only=*/true, &survivors).ok());
  std::set<int> present;
  for (const auto& item : survivors.kvs()) present.insert(instance_of_key.at(item.key()));
  std::vector<int> missing_kept;
  for (int i = 0; i < kInstances; ++i) {
    if (abandoned.count(i) == 0 && present.count(i) == 0) missing_kept.push_back(i);
    if (abandoned.count(i) == 0) {
      EXPECT_FALSE(instances[i].answered_zero_ttl.load()) << "kept lease of instance " << i << " answered TTL 0";
    }
  }
  EXPECT_TRUE(missing_kept.empty()) << missing_kept.size() << " kept instances vanished, first: "
                                    << KeyOf(missing_kept.front());
  for (int i : present) EXPECT_EQ(abandoned.count(i), 0u) << KeyOf(i) << " came back";

  for (auto& stream : streams) {
    EXPECT_FALSE(stream->write_failed()) << "a keep-alive stream broke";
    stream->Close();
  }

  // What the watcher saw: every PUT once, one DELETE per abandoned key, all in revision order.
  const auto deletes_in = Clock::now() + seconds(5);
  while (watcher.EventCount() < static_cast<size_t>(kInstances) + abandoned.size() && Clock::now() < deletes_in) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::map<int, int> puts;
  std::map<int, int> deletes;
  int64_t last_revision = 0;
  int out_of_order = 0;
  for (const auto& response : watcher.Snapshot()) {
    EXPECT_FALSE(response.canceled()) << "watch canceled: " << response.cancel_reason();
    for (const auto& event : response.events()) {
      const int i = instance_of_key.at(event.kv().key());
      if (event.kv().mod_revision() < last_revision) ++out_of_order;
      last_revision = std::max(last_revision, event.kv().mod_revision());
      if (event.type() == mvccpb::Event::PUT) {
        ++puts[i];
      } else {
        ++deletes[i];
      }
    }
  }
  EXPECT_EQ(out_of_order, 0) << "events out of revision order";
  EXPECT_EQ(puts.size(), static_cast<size_t>(kInstances));
  for (const auto& [i, n] : puts) EXPECT_EQ(n, 1) << "PUTs seen for " << KeyOf(i);
  int wrong_deletes = 0;
  for (int i = 0; i < kInstances; ++i) {
    const int expected = abandoned.count(i) != 0 ? 1 : 0;
    const int seen = deletes.count(i) != 0 ? deletes[i] : 0;
    if (seen != expected) {
      if (wrong_deletes++ < 5) {
        ADD_FAILURE() << KeyOf(i) << (expected ? " (abandoned)" : " (kept)") << ": " << seen
                      << " DELETE events, expected " << expected;
      }
    }
  }
  EXPECT_EQ(wrong_deletes, 0);
  EXPECT_TRUE(cairnd_->Running()) << cairnd_->LogTail();
}

}  // namespace
}  // namespace cairn::e2e
