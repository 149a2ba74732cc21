// Starts a real member in-process on a loopback port and talks to it over gRPC.
#include "server/member.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/server/in_process_member.h"

namespace cairn::server {
namespace {

class MemberTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartMember()); }

  void StartMember() { m_.Start({"--max-txn-ops", "4", "--max-request-bytes", "4096"}); }

  void Restart() {
    m_.Stop();
    StartMember();
  }

  grpc::Status Put(const std::string& key, const std::string& value, etcdserverpb::PutResponse* out = nullptr) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    auto s = m_.kv->Put(&ctx, req, &resp);
    if (out) *out = resp;
    return s;
  }

  etcdserverpb::RangeResponse Get(const std::string& key, const std::string& end = "", int64_t rev = 0) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_revision(rev);
    etcdserverpb::RangeResponse resp;
    auto s = m_.kv->Range(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  testing::InProcessMember m_{"/tmp/cairn-member-test-"};
};

TEST_F(MemberTest, PutThenGetWithEtcdRevisionsAndHeader) {
  EXPECT_EQ(Get("a").header().revision(), 1);  // an empty store is at revision 1
  etcdserverpb::PutResponse put;
  ASSERT_TRUE(Put("a", "1", &put).ok());
  EXPECT_EQ(put.header().revision(), 2);
  EXPECT_NE(put.header().cluster_id(), 0u);
  EXPECT_EQ(put.header().member_id(), m_.member->member_id());
  EXPECT_EQ(put.header().raft_term(), 2u);  // as a new single-member etcd: term 1 founds, 2 elects
  auto got = Get("a");
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).value(), "1");
  EXPECT_EQ(got.kvs(0).create_revision(), 2);
  EXPECT_EQ(got.kvs(0).mod_revision(), 2);
  EXPECT_EQ(got.kvs(0).version(), 1);
  EXPECT_EQ(got.header().member_id(), m_.member->member_id());
}

TEST_F(MemberTest, ConcurrentPutsAllLandWithDistinctRevisions) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(Put("k/" + std::to_string(t) + "/" + std::to_string(i), "v").ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto all = Get("k/", "k0");
  EXPECT_EQ(all.count(), 200);
  EXPECT_EQ(all.header().revision(), 201);
}

TEST_F(MemberTest, DataAndRevisionsSurviveRestart) {
  ASSERT_TRUE(Put("x", "1").ok());
  ASSERT_TRUE(Put("x", "2").ok());
  Restart();
  auto got = Get("x");
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).value(), "2");
  EXPECT_EQ(got.kvs(0).version(), 2);
  EXPECT_EQ(got.header().revision(), 3);
  EXPECT_EQ(Get("x", "", 2).kvs(0).value(), "1");
  etcdserverpb::PutResponse put;
  ASSERT_TRUE(Put("y", "1", &put).ok());
  EXPECT_EQ(put.header().revision(), 4);
}

TEST_F(MemberTest, BadInputGetsEtcdErrorsAndServerKeepsServing) {
  auto s = Put("", "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: key is not provided");

  s = Put("big", std::string(5000, 'x'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: request is too large");

  grpc::ClientContext ctx;
  etcdserverpb::TxnRequest txn;
  for (int i = 0; i < 5; ++i) txn.add_success()->mutable_request_put()->set_key("t" + std::to_string(i));
  etcdserverpb::TxnResponse txn_resp;
  s = m_.kv->Txn(&ctx, txn, &txn_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: too many operations in txn request");

  grpc::ClientContext future_ctx;
  etcdserverpb::RangeRequest future;
  future.set_key("a");
  future.set_revision(100);
  etcdserverpb::RangeResponse range_resp;
  s = m_.kv->Range(&future_ctx, future, &range_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: required revision is a future revision");

  EXPECT_TRUE(Put("still", "serving").ok());
}

TEST_F(MemberTest, CompactionIsPhysicalAndOldRevisionsAreGone) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put("c", std::to_string(i)).ok());  // revisions 2..6
  grpc::ClientContext ctx;
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(4);
  compact.set_physical(true);
  etcdserverpb::CompactionResponse compact_resp;
  ASSERT_TRUE(m_.kv->Compact(&ctx, compact, &compact_resp).ok());

  grpc::ClientContext old_ctx;
  etcdserverpb::RangeRequest old;
  old.set_key("c");
  old.set_revision(3);
  etcdserverpb::RangeResponse old_resp;
  auto s = m_.kv->Range(&old_ctx, old, &old_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(Get("c", "", 4).kvs(0).value(), "2");

  grpc::ClientContext again_ctx;
  s = m_.kv->Compact(&again_ctx, compact, &compact_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: required revision has been compacted");
}

TEST_F(MemberTest, UnbuiltRpcNamesItself) {
  grpc::ClientContext ctx;
  etcdserverpb::DowngradeRequest req;
  etcdserverpb::DowngradeResponse resp;
  auto s = m_.maintenance->Downgrade(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(s.error_message().find("Downgrade"), std::string::npos) << s.error_message();
}

TEST_F(MemberTest, AuthIsServedAndOffOnANewMember) {
  grpc::ClientContext ctx;
  etcdserverpb::AuthStatusRequest req;
  etcdserverpb::AuthStatusResponse resp;
  auto s = m_.auth->AuthStatus(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.enabled());
  EXPECT_EQ(resp.authrevision(), 0u);
}

TEST_F(MemberTest, LeaseRevokeDeletesAttachedKeysAndLeasesSurviveRestart) {
  grpc::ClientContext grant_ctx;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(60);
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(m_.lease->LeaseGrant(&grant_ctx, grant, &granted).ok());
  ASSERT_NE(granted.id(), 0);
  for (const char* key : {"/services/a/1", "/services/a/2"}) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest put;
    put.set_key(key);
    put.set_value("v");
    put.set_lease(granted.id());
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(m_.kv->Put(&ctx, put, &resp).ok());
  }
  Restart();
  grpc::ClientContext ttl_ctx;
  etcdserverpb::LeaseTimeToLiveRequest ttl_req;
  ttl_req.set_id(granted.id());
  ttl_req.set_keys(true);
  etcdserverpb::LeaseTimeToLiveResponse ttl;
  auto ttl_status = m_.lease->LeaseTimeToLive(&ttl_ctx, ttl_req, &ttl);
  ASSERT_TRUE(ttl_status.ok()) << ttl_status.error_message();
  EXPECT_EQ(ttl.grantedttl(), 60);
  EXPECT_EQ(ttl.keys_size(), 2);
  const int64_t before = Get("/services/", "/services0").header().revision();

  grpc::ClientContext revoke_ctx;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(granted.id());
  etcdserverpb::LeaseRevokeResponse revoked;
  ASSERT_TRUE(m_.lease->LeaseRevoke(&revoke_ctx, revoke, &revoked).ok());
  auto after = Get("/services/", "/services0");
  EXPECT_EQ(after.count(), 0);
  EXPECT_EQ(after.header().revision(), before + 1);  // both keys go in one revision
}

TEST_F(MemberTest, PutWithUnknownLeaseIsRefused) {
  grpc::ClientContext ctx;
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_lease(424242);
  etcdserverpb::PutResponse resp;
  auto s = m_.kv->Put(&ctx, put, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "etcdserver: requested lease not found");
}

TEST_F(MemberTest, StatusReportsIndexesAndSize) {
  ASSERT_TRUE(Put("s", "1").ok());
  grpc::ClientContext ctx;
  etcdserverpb::StatusResponse status;
  ASSERT_TRUE(m_.maintenance->Status(&ctx, {}, &status).ok());
  EXPECT_EQ(status.leader(), m_.member->member_id());
  EXPECT_GE(status.raftappliedindex(), 1u);
  EXPECT_GT(status.dbsize(), 0);
}

TEST_F(MemberTest, SecondMemberOnSameDataDirIsRefused) {
  auto config = ParseFlags(m_.Flags());
  ASSERT_TRUE(config.ok());
  auto second = Member::Start(*config);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another cairnd"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace cairn::server
