// The parameterized fixture: each test runs against
//   ours_on_etcd   - Cairn's services, backed by real etcd 3.4's KV/Lease/Watch;
//   etcd_itself    - etcd 3.4's own Lock/Election services (the reference behaviour);
//   ours_on_cairnd - Cairn's services backed by cairnd (skipped until cairnd serves Lease
//                    and Watch, or when build/bin/cairnd is missing);
//   cairnd_itself  - the Lock/Election services cairnd serves itself (skipped until it does).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "tests/concurrency/harness.h"

// Status assertions that show the code and message on failure.
#define CONC_STATUS_CHECK_(check, expr)                                              \
  do {                                                                               \
    const grpc::Status conc_status_ = (expr);                                        \
    check(conc_status_.ok()) << #expr << " -> " << conc_status_.error_code() << ": " \
                             << conc_status_.error_message();                        \
  } while (0)
#define ASSERT_OK(expr) CONC_STATUS_CHECK_(ASSERT_TRUE, expr)
#define EXPECT_OK(expr) CONC_STATUS_CHECK_(EXPECT_TRUE, expr)

namespace cairn::concurrency::testing {

enum class Target { kOursOnEtcd, kEtcdItself, kOursOnCairnd, kCairndItself };

inline std::string TargetName(const ::testing::TestParamInfo<Target>& info) {
  switch (info.param) {
    case Target::kOursOnEtcd: return "ours_on_etcd";
    case Target::kEtcdItself: return "etcd_itself";
    case Target::kOursOnCairnd: return "ours_on_cairnd";
    case Target::kCairndItself: return "cairnd_itself";
  }
  return "unknown";
}

// Backends are started once per test binary and shared (tests use distinct names).
class Backends : public ::testing::Environment {
 public:
  static Backends& Get();
  // The backend of `kind`, started on first use; null with *why when unavailable.
  KvServer* Server(KvServer::Kind kind, std::string* why);
  void TearDown() override { servers_.clear(); }

 private:
  std::map<KvServer::Kind, std::unique_ptr<KvServer>> servers_;
  std::map<KvServer::Kind, std::string> unavailable_;
};

inline auto AllTargets() {
  return ::testing::Values(Target::kOursOnEtcd, Target::kEtcdItself, Target::kOursOnCairnd,
                           Target::kCairndItself);
}

class ConcurrencyTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override;

  // A name unique to this test and target, so tests sharing a backend never interfere.
  std::string Name(const std::string& suffix = "") const;
  static std::string KeyOf(const std::string& name, int64_t lease) {
    return name + "/" + absl::StrFormat("%x", lease);
  }

  int64_t GrantLease(int64_t ttl);
  void RevokeLease(int64_t id);
  // The key-values under "name/", oldest first.
  std::vector<mvccpb::KeyValue> Contenders(const std::string& name);
  bool KeyExists(const std::string& key);
  std::string Get(const std::string& key);
  void Put(const std::string& key, const std::string& value);

  grpc::Status Lock(const std::string& name, int64_t lease, v3lockpb::LockResponse* response);
  grpc::Status Unlock(const std::string& key);
  grpc::Status Campaign(const std::string& name, int64_t lease, const std::string& value,
                        v3electionpb::CampaignResponse* response);
  grpc::Status Leader(const std::string& name, v3electionpb::LeaderResponse* response);
  grpc::Status Proclaim(const v3electionpb::LeaderKey& leader, const std::string& value);
  grpc::Status Resign(const v3electionpb::LeaderKey& leader);

  std::unique_ptr<PendingCall<v3lockpb::LockResponse>> PendingLock(const std::string& name,
                                                                   int64_t lease);
  std::unique_ptr<PendingCall<v3electionpb::CampaignResponse>> PendingCampaign(
      const std::string& name, int64_t lease, const std::string& value);

  int run_ = 0;
  KvServer* backend_ = nullptr;
  std::unique_ptr<InProcessServices> services_;
  std::string services_endpoint_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<v3lockpb::Lock::Stub> lock_;
  std::unique_ptr<v3electionpb::Election::Stub> election_;
};

}  // namespace cairn::concurrency::testing
