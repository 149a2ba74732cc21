#include "tests/concurrency/fixture.h"

namespace cairn::concurrency::testing {
namespace {

template <typename Request, typename Response, typename Method>
grpc::Status Call(Method method, const Request& request, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kGiveUp);
  return method(&context, request, response);
}

// Registered once; gtest owns it and tears it down after the last test.
[[maybe_unused]] Backends* const registered_backends = [] {
  auto* backends = new Backends();
  ::testing::AddGlobalTestEnvironment(backends);
  return backends;
}();

}  // namespace

Backends& Backends::Get() { return *registered_backends; }

KvServer* Backends::Server(KvServer::Kind kind, std::string* why) {
  if (auto it = servers_.find(kind); it != servers_.end()) return it->second.get();
  if (auto it = unavailable_.find(kind); it != unavailable_.end()) {
    *why = it->second;
    return nullptr;
  }
  std::unique_ptr<KvServer> server = KvServer::Start(kind, why);
  if (server != nullptr && kind == KvServer::Kind::kCairnd) {
    if (std::string missing = server->MissingLeaseOrWatch(); !missing.empty()) {
      *why = "cairnd cannot serve locks yet: " + missing;
      server.reset();
    }
  }
  if (server == nullptr) {
    unavailable_[kind] = *why;
    return nullptr;
  }
  return (servers_[kind] = std::move(server)).get();
}

void ConcurrencyTest::SetUp() {
  static int runs = 0;
  run_ = ++runs;
  const bool on_cairnd =
      GetParam() == Target::kOursOnCairnd || GetParam() == Target::kCairndItself;
  const auto kind = on_cairnd ? KvServer::Kind::kCairnd : KvServer::Kind::kEtcd;
  std::string why;
  backend_ = Backends::Get().Server(kind, &why);
  if (backend_ == nullptr) {
    if (kind == KvServer::Kind::kCairnd) GTEST_SKIP() << why;
    FAIL() << why;
  }
  if (GetParam() == Target::kEtcdItself || GetParam() == Target::kCairndItself) {
    services_endpoint_ = backend_->endpoint();
  } else {
    services_ = std::make_unique<InProcessServices>(backend_->channel());
    services_endpoint_ = services_->endpoint();
  }
  auto services = grpc::CreateChannel(services_endpoint_, grpc::InsecureChannelCredentials());
  kv_ = etcdserverpb::KV::NewStub(backend_->channel());
  lease_ = etcdserverpb::Lease::NewStub(backend_->channel());
  lock_ = v3lockpb::Lock::NewStub(services);
  election_ = v3electionpb::Election::NewStub(services);
  if (GetParam() == Target::kCairndItself) {
    v3electionpb::LeaderResponse ignored;
    grpc::Status probe = Leader(Name("-probe"), &ignored);
    if (probe.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      GTEST_SKIP() << "cairnd does not serve Lock/Election yet: " << probe.error_message();
    }
  }
}

std::string ConcurrencyTest::Name(const std::string& suffix) const {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // name() includes the target; the run number keeps --gtest_repeat runs apart.
  return absl::StrFormat("/conc/%d-%d/%s%s", getpid(), run_, info->name(), suffix);
}

int64_t ConcurrencyTest::GrantLease(int64_t ttl) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl);
  etcdserverpb::LeaseGrantResponse response;
  grpc::Status status = Call(
      [&](auto* c, auto& r, auto* o) { return lease_->LeaseGrant(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.id();
}

void ConcurrencyTest::RevokeLease(int64_t id) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(id);
  etcdserverpb::LeaseRevokeResponse response;
  grpc::Status status = Call(
      [&](auto* c, auto& r, auto* o) { return lease_->LeaseRevoke(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

std::vector<mvccpb::KeyValue> ConcurrencyTest::Contenders(const std::string& name) {
  etcdserverpb::RangeRequest request;
  request.set_key(name + "/");
  request.set_range_end(name + "0");  // '0' follows '/'
  request.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  request.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  etcdserverpb::RangeResponse response;
  grpc::Status status =
      Call([&](auto* c, auto& r, auto* o) { return kv_->Range(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.kvs().begin(), response.kvs().end()};
}

bool ConcurrencyTest::KeyExists(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  grpc::Status status =
      Call([&](auto* c, auto& r, auto* o) { return kv_->Range(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.kvs_size() > 0;
}

std::string ConcurrencyTest::Get(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  grpc::Status status =
      Call([&](auto* c, auto& r, auto* o) { return kv_->Range(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.kvs().empty() ? "" : response.kvs(0).value();
}

void ConcurrencyTest::Put(const std::string& key, const std::string& value) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  etcdserverpb::PutResponse response;
  grpc::Status status =
      Call([&](auto* c, auto& r, auto* o) { return kv_->Put(c, r, o); }, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

grpc::Status ConcurrencyTest::Lock(const std::string& name, int64_t lease,
                                   v3lockpb::LockResponse* response) {
  v3lockpb::LockRequest request;
  request.set_name(name);
  request.set_lease(lease);
  return Call([&](auto* c, auto& r, auto* o) { return lock_->Lock(c, r, o); }, request, response);
}

grpc::Status ConcurrencyTest::Unlock(const std::string& key) {
  v3lockpb::UnlockRequest request;
  request.set_key(key);
  v3lockpb::UnlockResponse response;
  return Call([&](auto* c, auto& r, auto* o) { return lock_->Unlock(c, r, o); }, request,
              &response);
}

grpc::Status ConcurrencyTest::Campaign(const std::string& name, int64_t lease,
                                       const std::string& value,
                                       v3electionpb::CampaignResponse* response) {
  v3electionpb::CampaignRequest request;
  request.set_name(name);
  request.set_lease(lease);
  request.set_value(value);
  return Call([&](auto* c, auto& r, auto* o) { return election_->Campaign(c, r, o); }, request,
              response);
}

grpc::Status ConcurrencyTest::Leader(const std::string& name,
                                     v3electionpb::LeaderResponse* response) {
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  return Call([&](auto* c, auto& r, auto* o) { return election_->Leader(c, r, o); }, request,
              response);
}

grpc::Status ConcurrencyTest::Proclaim(const v3electionpb::LeaderKey& leader,
                                       const std::string& value) {
  v3electionpb::ProclaimRequest request;
  *request.mutable_leader() = leader;
  request.set_value(value);
  v3electionpb::ProclaimResponse response;
  return Call([&](auto* c, auto& r, auto* o) { return election_->Proclaim(c, r, o); }, request,
              &response);
}

grpc::Status ConcurrencyTest::Resign(const v3electionpb::LeaderKey& leader) {
  v3electionpb::ResignRequest request;
  *request.mutable_leader() = leader;
  v3electionpb::ResignResponse response;
  return Call([&](auto* c, auto& r, auto* o) { return election_->Resign(c, r, o); }, request,
              &response);
}

std::unique_ptr<PendingCall<v3lockpb::LockResponse>> ConcurrencyTest::PendingLock(
    const std::string& name, int64_t lease) {
  v3lockpb::LockRequest request;
  request.set_name(name);
  request.set_lease(lease);
  return std::make_unique<PendingCall<v3lockpb::LockResponse>>(
      [this, request](grpc::ClientContext* context, v3lockpb::LockResponse* response) {
        return lock_->Lock(context, request, response);
      });
}

std::unique_ptr<PendingCall<v3electionpb::CampaignResponse>> ConcurrencyTest::PendingCampaign(
    const std::string& name, int64_t lease, const std::string& value) {
  v3electionpb::CampaignRequest request;
  request.set_name(name);
  request.set_lease(lease);
  request.set_value(value);
  return std::make_unique<PendingCall<v3electionpb::CampaignResponse>>(
      [this, request](grpc::ClientContext* context, v3electionpb::CampaignResponse* response) {
        return election_->Campaign(context, request, response);
      });
}

}  // namespace cairn::concurrency::testing
