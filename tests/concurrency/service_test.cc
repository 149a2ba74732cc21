// Properties of Cairn's own services beyond etcd's contract: many contenders with callers
// giving up under contention, and a server shutting down with callers still waiting.
#include <random>

#include "tests/concurrency/fixture.h"

namespace cairn::concurrency::testing {
namespace {

class ServiceTest : public ConcurrencyTest {};

// Clients contend for one lock; some give up after a short deadline. Nobody is ever inside
// the critical section together, and no abandoned waiter's key is left blocking the queue.
TEST_P(ServiceTest, ContendersThatGiveUpNeverBreakExclusionOrBlockTheQueue) {
  const std::string name = Name();
  constexpr int kClients = 6;
  constexpr int kRounds = 6;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> acquired{0};
  auto client = [&](int id, int64_t lease) {
    std::mt19937 random(id);
    for (int round = 0; round < kRounds; ++round) {
      const bool impatient = random() % 3 == 0;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           (impatient ? std::chrono::milliseconds(20) : kGiveUp));
      v3lockpb::LockRequest request;
      request.set_name(name);
      request.set_lease(lease);
      v3lockpb::LockResponse response;
      grpc::Status status = lock_->Lock(&context, request, &response);
      if (status.ok()) {
        if (inside.fetch_add(1) != 0) overlaps++;
        acquired++;
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 3));
        inside.fetch_sub(1);
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
            << status.error_message();
      }
      // Unlock after a failure too: the grant may have raced the deadline.
      EXPECT_OK(Unlock(KeyOf(name, lease)));
    }
  };
  std::vector<std::thread> threads;
  for (int id = 0; id < kClients; ++id) {
    const int64_t lease = GrantLease(60);
    threads.emplace_back(client, id, lease);
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GT(acquired.load(), 0);
  EXPECT_TRUE(WaitUntil([&] { return Contenders(name).empty(); }));
}

TEST_P(ServiceTest, ShutdownCancelsWaitersAndRemovesTheirKeys) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(60);
  const int64_t lease_b = GrantLease(60);
  const int64_t lease_c = GrantLease(60);
  v3lockpb::LockResponse a;
  ASSERT_OK(Lock(name, lease_a, &a));
  auto b = PendingLock(name, lease_b);
  auto c = PendingCampaign(Name("-election"), lease_c, "c");  // leads at once
  ASSERT_OK(c->Wait());
  auto d = PendingCampaign(Name("-election"), lease_b, "d");  // waits behind c
  ASSERT_TRUE(WaitUntil([&] {
    return KeyExists(KeyOf(name, lease_b)) && KeyExists(KeyOf(Name("-election"), lease_b));
  }));

  services_->Shutdown(std::chrono::milliseconds(100));
  EXPECT_FALSE(b->Wait().ok());
  EXPECT_FALSE(d->Wait().ok());
  EXPECT_TRUE(WaitUntil([&] { return !KeyExists(KeyOf(name, lease_b)); }));
  EXPECT_TRUE(WaitUntil([&] { return !KeyExists(KeyOf(Name("-election"), lease_b)); }));
  EXPECT_TRUE(KeyExists(a.key())) << "the holder keeps its lock";
  EXPECT_TRUE(KeyExists(KeyOf(Name("-election"), lease_c))) << "the leader keeps leading";
}

TEST_P(ServiceTest, ObserversEndWhenTheServerShutsDown) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse elected;
  ASSERT_OK(Campaign(name, lease, "v", &elected));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kGiveUp);
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  auto reader = election_->Observe(&context, request);
  v3electionpb::LeaderResponse response;
  ASSERT_TRUE(reader->Read(&response));
  services_->Shutdown(std::chrono::milliseconds(100));
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_FALSE(reader->Finish().ok());
}

INSTANTIATE_TEST_SUITE_P(Targets, ServiceTest,
                         ::testing::Values(Target::kOursOnEtcd, Target::kOursOnCairnd),
                         TargetName);

}  // namespace
}  // namespace cairn::concurrency::testing
