// The Lease service in-process on 127.0.0.1:0 over a real store (StoreLog), for the gRPC and
// etcdctl tests.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "server/lease/lease_service.h"
#include "tests/lease/lease_test_util.h"
#include "tests/lease/store_log.h"

namespace cairn::lease::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

using KeepAliveStream =
    grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;

constexpr uint64_t kClusterId = 11;
constexpr uint64_t kMemberId = 22;
constexpr uint64_t kTerm = 3;

class LeaseServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(/*fake_clock=*/true); }
  void TearDown() override { StopServer(); }

  void StartServer(bool fake_clock, std::chrono::milliseconds election_timeout = milliseconds(1000)) {
    log_ = std::make_unique<StoreLog>();
    LessorOptions options;
    options.clock = fake_clock ? &clock_ : nullptr;
    options.election_timeout = election_timeout;
    options.tick = milliseconds(20);
    lessor_ = std::make_unique<Lessor>(options, log_->AsProposer());
    log_->set_lessor(lessor_.get());
    ASSERT_TRUE(lessor_->Recover(*log_->records()).ok());
    lessor_->Promote(election_timeout);
    if (!fake_clock) lessor_->Start();
    server::HeaderInfo header{kClusterId, kMemberId, kTerm};
    LeaseServiceOptions service_options;
    service_options.no_space = [this] { return no_space_.load(); };
    service_ = std::make_unique<LeaseService>(lessor_.get(), log_->records(), log_->AsProposer(), header,
                                              service_options);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    port_ = port;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    stub_ = etcdserverpb::Lease::NewStub(channel_);
  }

  // The order a member must follow: streams finished, server drained, log stopped, then the lessor.
  void StopServer() {
    if (!server_) return;
    service_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + seconds(5));
    server_->Wait();
    service_.reset();
    log_->Stop();
    lessor_.reset();
    server_.reset();
    log_.reset();
  }

  grpc::Status Grant(int64_t ttl, int64_t id, etcdserverpb::LeaseGrantResponse* response) {
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(ttl);
    request.set_id(id);
    grpc::ClientContext context;
    return stub_->LeaseGrant(&context, request, response);
  }

  int64_t MustGrant(int64_t ttl, int64_t id = 0) {
    etcdserverpb::LeaseGrantResponse response;
    grpc::Status s = Grant(ttl, id, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.id();
  }

  grpc::Status Revoke(int64_t id, etcdserverpb::LeaseRevokeResponse* response) {
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(id);
    grpc::ClientContext context;
    return stub_->LeaseRevoke(&context, request, response);
  }

  etcdserverpb::LeaseTimeToLiveResponse TimeToLive(int64_t id, bool keys, grpc::Status* status = nullptr) {
    etcdserverpb::LeaseTimeToLiveRequest request;
    request.set_id(id);
    request.set_keys(keys);
    etcdserverpb::LeaseTimeToLiveResponse response;
    grpc::ClientContext context;
    grpc::Status s = stub_->LeaseTimeToLive(&context, request, &response);
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return response;
  }

  static void ExpectHeader(const etcdserverpb::ResponseHeader& header, int64_t revision) {
    EXPECT_EQ(header.cluster_id(), kClusterId);
    EXPECT_EQ(header.member_id(), kMemberId);
    EXPECT_EQ(header.raft_term(), kTerm);
    EXPECT_EQ(header.revision(), revision);
  }

  static etcdserverpb::LeaseKeepAliveRequest KeepAlive(int64_t id) {
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(id);
    return request;
  }

  FakeClock clock_;
  std::atomic<bool> no_space_{false};
  int port_ = 0;
  std::unique_ptr<StoreLog> log_;
  std::unique_ptr<Lessor> lessor_;
  std::unique_ptr<LeaseService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> stub_;
};

}  // namespace cairn::lease::testing
