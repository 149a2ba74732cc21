// The write pipeline refuses a KV write checked against an auth revision that a later auth change
// superseded ("etcdserver: revision of auth store is old"), the same way on every member (the
// revision it compares with comes from the log), and keeps the auth state across a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/auth/auth_state.h"
#include "server/write_pipeline.h"
#include "tests/single_member_pipeline.h"

namespace cairn::server {
namespace {

class AuthPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cairn-auth-pipeline-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    mvcc::StoreOptions so;
    so.dir = (dir_ / "db").string();
    so.no_sync = true;
    auto store = mvcc::Store::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(pipeline_.Start(store_.get(), (dir_ / "wal").string()).ok());
  }
  void Close() {
    pipeline_.Stop();
    store_.reset();
  }

  absl::Status Submit(cairnpb::LogRequest request, google::protobuf::Message* response) {
    return pipeline_.Submit(std::move(request), response);
  }
  absl::Status AddRole(const std::string& name) {
    cairnpb::LogRequest r;
    r.mutable_auth()->mutable_role_add()->set_name(name);
    etcdserverpb::AuthRoleAddResponse response;
    return Submit(r, &response);
  }
  absl::Status Put(uint64_t auth_revision) {
    cairnpb::LogRequest r;
    r.mutable_put()->set_key("k");
    r.mutable_put()->set_value("v");
    r.set_auth_revision(auth_revision);
    etcdserverpb::PutResponse response;
    return Submit(r, &response);
  }
  uint64_t StoredAuthRevision() {
    auto blob = store_->AuthState();
    EXPECT_TRUE(blob.ok());
    return *auth::AuthRevisionOf(*blob);
  }

  std::filesystem::path dir_;
  std::unique_ptr<mvcc::Store> store_;
  testing::SingleMemberPipeline pipeline_;
};

TEST_F(AuthPipelineTest, WritesCheckedAgainstAnOlderAuthRevisionAreRefused) {
  ASSERT_TRUE(AddRole("a").ok());
  ASSERT_TRUE(AddRole("b").ok());
  EXPECT_EQ(StoredAuthRevision(), 2u);
  EXPECT_TRUE(Put(0).ok());  // not checked (auth off)
  EXPECT_TRUE(Put(2).ok());  // checked at the current revision
  absl::Status stale = Put(1);
  EXPECT_EQ(stale.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stale.message(), "etcdserver: revision of auth store is old");
  // A refused auth change does not move the revision.
  EXPECT_EQ(AddRole("a").message(), "etcdserver: role name already exists");
  EXPECT_TRUE(Put(2).ok());
  // After a restart the pipeline knows the revision from the store.
  Close();
  Open();
  EXPECT_EQ(StoredAuthRevision(), 2u);
  EXPECT_EQ(Put(1).message(), "etcdserver: revision of auth store is old");
  EXPECT_TRUE(Put(2).ok());
}

}  // namespace
}  // namespace cairn::server
