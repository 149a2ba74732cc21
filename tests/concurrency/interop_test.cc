// The services interoperate with etcd's client-side recipes on the same keys: etcdctl 3.4's
// `lock` and `elect` (which use KV/Lease/Watch directly, not these RPCs), and python3-etcd3's
// lock (its own key layout; it checks that the backend's txns and leases serve it).
#include <csignal>

#include "tests/concurrency/fixture.h"

namespace cairn::concurrency::testing {
namespace {

constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

class InteropTest : public ConcurrencyTest {
 protected:
  void SetUp() override {
    ConcurrencyTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!std::filesystem::exists(kEtcdctl)) GTEST_SKIP() << kEtcdctl << " is missing";
    log_dir_ = MakeTempDir("etcdctl");
  }
  void TearDown() override {
    if (!log_dir_.empty()) std::filesystem::remove_all(log_dir_);
  }

  // Starts etcdctl against the backend; its stdout is readable line by line.
  std::unique_ptr<ChildProcess> Etcdctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {kEtcdctl, "--endpoints", backend_->endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = std::make_unique<ChildProcess>();
    EXPECT_TRUE(process->Start(argv, log_dir_ + "/etcdctl.log", /*pipe_stdout=*/true));
    return process;
  }
  std::string EtcdctlLog() { return ReadFile(log_dir_ + "/etcdctl.log"); }

  std::string log_dir_;
};

TEST_P(InteropTest, EtcdctlLockHolderExcludesTheLockRpc) {
  const std::string name = Name();
  auto etcdctl = Etcdctl({"lock", name});
  std::optional<std::string> held = etcdctl->ReadLine();  // printed once it holds the lock
  ASSERT_TRUE(held.has_value()) << EtcdctlLog();
  EXPECT_EQ(held->rfind(name + "/", 0), 0u) << *held;

  const int64_t lease = GrantLease(60);
  auto ours = PendingLock(name, lease);
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease)); }));
  EXPECT_FALSE(ours->done()) << "the Lock RPC got a lock etcdctl holds";

  etcdctl->Signal(SIGINT);  // etcdctl unlocks on a signal
  EXPECT_EQ(etcdctl->Wait(), 0) << EtcdctlLog();
  grpc::Status status = ours->Wait();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ours->response().key(), KeyOf(name, lease));
}

TEST_P(InteropTest, LockRpcHolderExcludesEtcdctlLock) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3lockpb::LockResponse ours;
  ASSERT_OK(Lock(name, lease, &ours));

  auto etcdctl = Etcdctl({"lock", name});
  ASSERT_TRUE(WaitUntil([&] { return Contenders(name).size() == 2; }));  // etcdctl queued
  const std::string etcdctl_key = Contenders(name)[1].key();
  ASSERT_OK(Unlock(ours.key()));
  std::optional<std::string> held = etcdctl->ReadLine();
  ASSERT_TRUE(held.has_value()) << EtcdctlLog();
  EXPECT_EQ(*held, etcdctl_key);
  etcdctl->Signal(SIGINT);
  EXPECT_EQ(etcdctl->Wait(), 0) << EtcdctlLog();
}

TEST_P(InteropTest, ObserveAndLeaderSeeAnEtcdctlCampaigner) {
  const std::string name = Name();
  auto etcdctl = Etcdctl({"elect", name, "from-etcdctl"});
  std::optional<std::string> key = etcdctl->ReadLine();  // printed once elected
  ASSERT_TRUE(key.has_value()) << EtcdctlLog();

  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().key(), *key);
  EXPECT_EQ(leader.kv().value(), "from-etcdctl");

  etcdctl->Signal(SIGINT);  // etcdctl resigns on a signal
  EXPECT_EQ(etcdctl->Wait(), 0) << EtcdctlLog();
  EXPECT_EQ(Leader(name, &leader).error_message(), "election: no leader");
}

TEST_P(InteropTest, EtcdctlObserverSeesCampaignAndProclaimRpcs) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse elected;
  ASSERT_OK(Campaign(name, lease, "v1", &elected));

  auto etcdctl = Etcdctl({"elect", "--listen", name});
  EXPECT_EQ(etcdctl->ReadLine().value_or("<end>"), KeyOf(name, lease));
  EXPECT_EQ(etcdctl->ReadLine().value_or("<end>"), "v1");
  ASSERT_OK(Proclaim(elected.leader(), "v2"));
  EXPECT_EQ(etcdctl->ReadLine().value_or("<end>"), KeyOf(name, lease));
  EXPECT_EQ(etcdctl->ReadLine().value_or("<end>"), "v2");
  etcdctl->Signal(SIGINT);
  etcdctl->Wait();
}

// python3-etcd3's Lock runs on the backend's KV txns and leases alone. Debian's package
// breaks on a contended acquire (its retry hook no longer matches tenacity's signature and
// raises TypeError), and only after the acquiring txn found the lock held; the script
// counts that as "not acquired".
TEST_P(InteropTest, Python3Etcd3LockIsExclusive) {
  const std::string script = R"(
import sys, etcd3
host, port = sys.argv[1].rsplit(":", 1)
client = etcd3.client(host=host, port=int(port))
first = client.lock(sys.argv[2], ttl=60)
second = client.lock(sys.argv[2], ttl=60)

def try_acquire(lock):
    try:
        return lock.acquire(timeout=1)
    except TypeError:
        return False

assert first.acquire(timeout=10), "first acquire"
assert first.is_acquired() and not second.is_acquired()
first.refresh()
assert not try_acquire(second), "second acquired a held lock"
assert first.release(), "release"
assert second.acquire(timeout=10), "second acquire after release"
assert second.is_acquired() and not first.is_acquired()
second.release()
with client.lock(sys.argv[2], ttl=60) as third:
    assert third.is_acquired()
print("ok")
)";
  const std::string script_path = log_dir_ + "/lock.py";
  std::ofstream(script_path) << script;
  ChildProcess python;
  ASSERT_TRUE(python.Start({"/usr/bin/python3", script_path, backend_->endpoint(), Name()},
                           log_dir_ + "/python.log", /*pipe_stdout=*/true));
  EXPECT_EQ(python.ReadLine().value_or("<end>"), "ok") << ReadFile(log_dir_ + "/python.log");
  EXPECT_EQ(python.Wait(), 0) << ReadFile(log_dir_ + "/python.log");
}

INSTANTIATE_TEST_SUITE_P(Targets, InteropTest,
                         AllTargets(),
                         TargetName);

}  // namespace
}  // namespace cairn::concurrency::testing
