#include <lmdb.h>

#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using RestartTest = StoreTest;

TEST_F(RestartTest, EverythingSurvivesReopen) {
  Put("a", "1");
  Put("a", "2", 5);
  Put("b", "x");
  Delete("b");
  Put("c", "y");  // revision 6
  ASSERT_TRUE(Compact(3).ok());
  {
    auto batch = store_->BeginWrite();
    batch->SetApplied(42, 7);
    ASSERT_TRUE(batch->Commit().ok());
  }
  Reopen();
  EXPECT_EQ(store_->CurrentRevision(), 6);
  EXPECT_EQ(store_->CompactedRevision(), 3);
  EXPECT_EQ(store_->AppliedIndex(), 42u);
  EXPECT_EQ(store_->AppliedTerm(), 7u);
  EXPECT_TRUE(store_->CompactionPending());
  auto a = Get("a").kvs(0);
  EXPECT_EQ(a.value(), "2");
  EXPECT_EQ(a.lease(), 5);
  EXPECT_EQ(a.version(), 2);
  EXPECT_EQ(Get("b").count(), 0);
  EXPECT_EQ(Get("b", "", 4).kvs(0).value(), "x");
  EXPECT_EQ(Put("d", "z").header().revision(), 7);

  FinishCompaction();
  Reopen();
  EXPECT_FALSE(store_->CompactionPending());
  EXPECT_EQ(Get("a", "", 3).kvs(0).value(), "2");
  EXPECT_EQ(Compact(3).message(), "etcdserver: mvcc: required revision has been compacted");
}

TEST_F(RestartTest, AppliedIndexCommitsWithTheDataItCovers) {
  {
    auto batch = store_->BeginWrite();
    etcdserverpb::PutRequest req;
    req.set_key("a");
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(batch->Put(req, &resp).ok());
    batch->SetApplied(9, 1);
    // Not committed: neither the data nor the index survive.
  }
  Reopen();
  EXPECT_EQ(store_->AppliedIndex(), 0u);
  EXPECT_EQ(Get("a").count(), 0);
}

TEST_F(RestartTest, MembershipRecordCommitsWithTheBatchAndSurvivesReopen) {
  EXPECT_EQ(*store_->Membership(), "");
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->SetMembership("members v1").ok());
    batch->SetApplied(3, 1);
    // Not committed: the record is not kept.
  }
  EXPECT_EQ(*store_->Membership(), "");
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->SetMembership(std::string("members\0v2", 10)).ok());
    batch->SetApplied(4, 2);
    ASSERT_TRUE(batch->Commit().ok());
  }
  Reopen();
  EXPECT_EQ(*store_->Membership(), std::string("members\0v2", 10));
  EXPECT_EQ(store_->AppliedIndex(), 4u);
}

TEST_F(RestartTest, AnImageCopiedFromOneStoreReplacesAnotherStoresContents) {
  Put("a", "1");
  Put("b", "2", 7);
  Delete("a");
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->SetMembership("three members").ok());
    batch->SetApplied(40, 3);
    ASSERT_TRUE(batch->Commit().ok());
  }
  const std::string image = dir_ + "/image.mdb";
  ASSERT_TRUE(store_->CopyTo(image).ok());
  uint64_t index = 0, term = 0;
  ASSERT_TRUE(Store::ReadImagePoint(image, &index, &term).ok());
  EXPECT_EQ(index, 40u);
  EXPECT_EQ(term, 3u);

  // A second store with different, older content takes the image over whole.
  std::string other_dir = dir_ + "/other";
  StoreOptions options;
  options.dir = other_dir;
  auto other = Store::Open(options);
  ASSERT_TRUE(other.ok());
  {
    auto batch = (*other)->BeginWrite();
    etcdserverpb::PutRequest put;
    put.set_key("stale");
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(batch->Put(put, &resp).ok());
    batch->SetApplied(5, 1);
    ASSERT_TRUE(batch->Commit().ok());
  }
  ASSERT_TRUE((*other)->ReplaceContentsFrom(image).ok());
  EXPECT_EQ((*other)->AppliedIndex(), 40u);
  EXPECT_EQ((*other)->AppliedTerm(), 3u);
  EXPECT_EQ((*other)->CurrentRevision(), store_->CurrentRevision());
  EXPECT_EQ(*(*other)->Membership(), "three members");
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  etcdserverpb::RangeResponse got;
  ASSERT_TRUE((*other)->Range(all, &got).ok());
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).key(), "b");
  EXPECT_EQ(got.kvs(0).lease(), 7);
  std::vector<Store::LeaseRecord> leases;
  ASSERT_TRUE((*other)->ListLeases(&leases).ok());
  ASSERT_EQ(leases.size(), 1u);
  // History came along: the deleted key is readable at its old revision.
  etcdserverpb::RangeRequest old;
  old.set_key("a");
  old.set_revision(2);
  etcdserverpb::RangeResponse old_got;
  ASSERT_TRUE((*other)->Range(old, &old_got).ok());
  ASSERT_EQ(old_got.kvs_size(), 1);
  EXPECT_EQ(old_got.kvs(0).value(), "1");
  other->reset();
  // What was replaced is durable: a reopen sees the image's content.
  auto reopened = Store::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->AppliedIndex(), 40u);

  EXPECT_FALSE(Store::ReadImagePoint(dir_ + "/missing.mdb", &index, &term).ok());
}

TEST_F(RestartTest, RefusesAnIncompatibleFormat) {
  store_.reset();
  WriteFormatMarker(dir_, "cairn-mvcc-9");

  StoreOptions options;
  options.dir = dir_;
  auto opened = Store::Open(options);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RestartTest, RefusesAForeignLmdbDatabase) {
  store_.reset();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_open(env, dir_.c_str(), 0, 0644), 0);
  MDB_txn* txn;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi main;
  ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &main), 0);
  MDB_val k{3, const_cast<char*>("foo")}, v{3, const_cast<char*>("bar")};
  ASSERT_EQ(mdb_put(txn, main, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);

  StoreOptions options;
  options.dir = dir_;
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

class QuotaTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    StoreOptions options;
    options.quota_bytes = 512 << 10;
    Reopen(options);
  }
};

// The quota is checked before proposing (HasRoomFor), never when applying: a batch applies every
// put whatever the store's size, so members with different page layouts cannot diverge.
TEST_F(QuotaTest, ApplyingNeverRefusesForSizeTheProposerSideCheckDoes) {
  const std::string value(4000, 'v');
  etcdserverpb::PutRequest probe;
  probe.set_key("probe");
  probe.set_value(value);
  EXPECT_TRUE(store_->HasRoomFor(probe));
  auto batch = store_->BeginWrite();
  const int puts = 300;  // about 2.4 MiB of records: far past the 512 KiB quota, within the headroom
  for (int i = 0; i < puts; ++i) {
    etcdserverpb::PutRequest req;
    req.set_key("key" + std::to_string(i));
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(batch->Put(req, &resp).ok()) << "put " << i;
  }
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), 1 + puts);
  EXPECT_GT(store_->DbSizeInUse(), 512 << 10);
  EXPECT_FALSE(store_->NearMapLimit());  // 2.4 MiB of the 8 MiB headroom
  EXPECT_FALSE(store_->HasRoomFor(probe));
  EXPECT_FALSE(store_->HasRoomForLease());
  etcdserverpb::TxnRequest txn_put, txn_delete;
  *txn_put.add_failure()->mutable_request_put() = probe;
  txn_delete.add_success()->mutable_request_delete_range()->set_key("key1");
  EXPECT_FALSE(store_->HasRoomFor(txn_put));
  EXPECT_TRUE(store_->HasRoomFor(txn_delete));  // puts nothing: always room
  // A reopen knows the size too.
  StoreOptions options;
  options.quota_bytes = 512 << 10;
  Reopen(options);
  EXPECT_FALSE(store_->HasRoomFor(probe));

  // Recovery: delete, compact, and the room comes back.
  EXPECT_EQ(Delete("key", "kez").deleted(), puts);
  CompactFully(store_->CurrentRevision());
  EXPECT_TRUE(store_->HasRoomFor(probe));
}

// A full LMDB map is a real failure: the batch is poisoned and nothing of it is kept.
TEST_F(QuotaTest, AFullMapFailsTheWholeBatch) {
  StoreOptions options;
  options.quota_bytes = 256 << 10;
  options.headroom_bytes = 1 << 20;
  Reopen(options);
  Put("kept", "1");
  const int64_t revision = store_->CurrentRevision();
  const std::string value(8000, 'v');
  auto batch = store_->BeginWrite();
  absl::Status s;
  for (int i = 0; i < 1000 && s.ok(); ++i) {
    etcdserverpb::PutRequest req;
    req.set_key("key" + std::to_string(i));
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    s = batch->Put(req, &resp);
  }
  EXPECT_EQ(s.message(), "etcdserver: mvcc: database space exceeded");
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("kept");
  etcdserverpb::DeleteRangeResponse del_resp;
  EXPECT_FALSE(batch->DeleteRange(del, &del_resp).ok());
  EXPECT_FALSE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), revision);
  EXPECT_EQ(Get("kept").count(), 1);
  EXPECT_EQ(Get("key0").count(), 0);
}

// The server raises its NOSPACE alarm when a store nears its map limit; that comes while commits
// still succeed.
TEST_F(QuotaTest, NearMapLimitComesBeforeTheMapIsFull) {
  StoreOptions options;
  options.quota_bytes = 256 << 10;
  options.headroom_bytes = 1 << 20;
  Reopen(options);
  const std::string value(4000, 'v');
  int key = 0;
  for (int batches = 0; batches < 100 && !store_->NearMapLimit(); ++batches) {
    auto batch = store_->BeginWrite();
    for (int i = 0; i < 5; ++i) {
      etcdserverpb::PutRequest req;
      req.set_key("key" + std::to_string(key++));
      req.set_value(value);
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(batch->Put(req, &resp).ok()) << "put " << key;
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_TRUE(store_->NearMapLimit());
  EXPECT_GT(store_->DbSizeInUse(), (256 << 10) + (512 << 10));
}

TEST_F(QuotaTest, ReportsSizes) {
  EXPECT_GT(store_->DbSize(), 0);
  EXPECT_GT(store_->DbSizeInUse(), 0);
  const int64_t before = store_->DbSizeInUse();
  for (int i = 0; i < 20; ++i) Put("k" + std::to_string(i), std::string(3000, 'x'));
  EXPECT_GT(store_->DbSizeInUse(), before);
  EXPECT_GE(store_->DbSize(), store_->DbSizeInUse());
}

}  // namespace
}  // namespace cairn::mvcc::testing
