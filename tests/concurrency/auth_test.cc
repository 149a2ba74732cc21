// With auth enabled on the backend, the services act with the caller's token, as etcd's do:
// a caller with a valid token can lock and campaign; one without is refused with etcd's error.
#include "tests/concurrency/fixture.h"

namespace cairn::concurrency::testing {
namespace {

class AuthTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = KvServer::Start(KvServer::Kind::kEtcd, &why);
    ASSERT_NE(backend_, nullptr) << why;
    auto auth = etcdserverpb::Auth::NewStub(backend_->channel());
    ASSERT_TRUE(AuthCall([&](auto* c) {
      etcdserverpb::AuthRoleAddRequest r;
      r.set_name("root");
      etcdserverpb::AuthRoleAddResponse o;
      return auth->RoleAdd(c, r, &o);
    }));
    ASSERT_TRUE(AuthCall([&](auto* c) {
      etcdserverpb::AuthUserAddRequest r;
      r.set_name("root");
      r.set_password("secret");
      etcdserverpb::AuthUserAddResponse o;
      return auth->UserAdd(c, r, &o);
    }));
    ASSERT_TRUE(AuthCall([&](auto* c) {
      etcdserverpb::AuthUserGrantRoleRequest r;
      r.set_user("root");
      r.set_role("root");
      etcdserverpb::AuthUserGrantRoleResponse o;
      return auth->UserGrantRole(c, r, &o);
    }));
    ASSERT_TRUE(AuthCall([&](auto* c) {
      etcdserverpb::AuthEnableRequest r;
      etcdserverpb::AuthEnableResponse o;
      return auth->AuthEnable(c, r, &o);
    }));
    ASSERT_TRUE(AuthCall([&](auto* c) {
      etcdserverpb::AuthenticateRequest r;
      r.set_name("root");
      r.set_password("secret");
      etcdserverpb::AuthenticateResponse o;
      grpc::Status status = auth->Authenticate(c, r, &o);
      token_ = o.token();
      return status;
    }));
    if (GetParam() == Target::kEtcdItself) {
      endpoint_ = backend_->endpoint();
    } else {
      services_ = std::make_unique<InProcessServices>(backend_->channel());
      endpoint_ = services_->endpoint();
    }
    auto channel = grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials());
    lock_ = v3lockpb::Lock::NewStub(channel);
    election_ = v3electionpb::Election::NewStub(channel);
  }
  void TearDown() override {
    services_.reset();  // before the backend it talks to
    backend_.reset();
  }

  bool AuthCall(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext context;
    grpc::Status status = call(&context);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return status.ok();
  }

  grpc::Status Lock(const std::string& token, v3lockpb::LockResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kGiveUp);
    if (!token.empty()) context.AddMetadata("token", token);
    v3lockpb::LockRequest request;
    request.set_name("/auth/lock");
    return lock_->Lock(&context, request, response);
  }

  std::unique_ptr<KvServer> backend_;
  std::unique_ptr<InProcessServices> services_;
  std::string endpoint_;
  std::string token_;
  std::unique_ptr<v3lockpb::Lock::Stub> lock_;
  std::unique_ptr<v3electionpb::Election::Stub> election_;
};

TEST_P(AuthTest, CallerWithATokenCanLockAndCampaign) {
  v3lockpb::LockResponse locked;
  grpc::Status status = Lock(token_, &locked);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(locked.key().rfind("/auth/lock/", 0), 0u);

  grpc::ClientContext context;
  context.AddMetadata("token", token_);
  v3electionpb::CampaignRequest request;
  request.set_name("/auth/election");
  request.set_value("v");
  v3electionpb::CampaignResponse elected;
  status = election_->Campaign(&context, request, &elected);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

TEST_P(AuthTest, CallerWithoutATokenIsRefusedLikeEtcd) {
  v3lockpb::LockResponse locked;
  grpc::Status status = Lock("", &locked);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "etcdserver: user name is empty");

  grpc::ClientContext context;
  v3electionpb::LeaderRequest request;
  request.set_name("/auth/election");
  v3electionpb::LeaderResponse leader;
  status = election_->Leader(&context, request, &leader);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "etcdserver: user name is empty");
}

INSTANTIATE_TEST_SUITE_P(Targets, AuthTest,
                         ::testing::Values(Target::kOursOnEtcd, Target::kEtcdItself),
                         TargetName);

}  // namespace
}  // namespace cairn::concurrency::testing
