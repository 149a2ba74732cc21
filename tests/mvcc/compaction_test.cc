#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using CompactionTest = StoreTest;

TEST_F(CompactionTest, RejectsCompactedAndFutureRevisions) {
  Put("a", "1");
  Put("a", "2");  // revision 3
  absl::Status s = Compact(4);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
  ASSERT_TRUE(Compact(2).ok());
  EXPECT_EQ(store_->CompactedRevision(), 2);
  s = Compact(2);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(Compact(1).message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_TRUE(Compact(3).ok());
  EXPECT_EQ(store_->CurrentRevision(), 3);  // compaction takes no revision
}

TEST_F(CompactionTest, ResponseCarriesCurrentRevision) {
  Put("a", "1");
  Put("a", "2");
  auto batch = store_->BeginWrite();
  etcdserverpb::CompactionRequest req;
  req.set_revision(2);
  etcdserverpb::CompactionResponse resp;
  ASSERT_TRUE(batch->Compact(req, &resp).ok());
  EXPECT_EQ(resp.header().revision(), 3);
  ASSERT_TRUE(batch->Commit().ok());
}

TEST_F(CompactionTest, ReadsBelowTheCompactedRevisionFail) {
  Put("a", "1");
  Put("a", "2");
  Put("a", "3");  // revision 4
  CompactFully(3);
  etcdserverpb::RangeRequest req;
  req.set_key("a");
  req.set_revision(2);
  etcdserverpb::RangeResponse resp;
  absl::Status s = TryRange(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(Get("a", "", 3).kvs(0).value(), "2");  // the compacted revision itself still reads
  EXPECT_EQ(Get("a").kvs(0).value(), "3");
}

TEST_F(CompactionTest, OldVersionsAndDeletedKeysAreRemoved) {
  Put("a", "1");   // 2
  Put("a", "2");   // 3
  Put("gone", "x");  // 4
  Delete("gone");    // 5
  Put("b", "1");   // 6
  Put("a", "3");   // 7
  EXPECT_EQ(store_->StoredVersions(), 6);
  CompactFully(6);
  // Left: a@3 (newest <= 6), a@7, b@6. "gone" vanished with its tombstone.
  EXPECT_EQ(store_->StoredVersions(), 3);
  EXPECT_EQ(Get("a", "", 6).kvs(0).value(), "2");
  EXPECT_EQ(Get("gone", "", 6).count(), 0);
  EXPECT_EQ(Get("a", "c", 6).count(), 2);
  EXPECT_FALSE(store_->CompactionPending());

  CompactFully(7);
  EXPECT_EQ(store_->StoredVersions(), 2);
  EXPECT_EQ(Get("a").kvs(0).value(), "3");
  EXPECT_EQ(Get("a").kvs(0).create_revision(), 2);
  EXPECT_EQ(Get("a").kvs(0).version(), 3);
}

TEST_F(CompactionTest, DeletionAtTheCompactedRevisionIsKeptUntilTheNext) {
  Put("a", "1");  // 2
  Delete("a");    // 3
  CompactFully(3);
  EXPECT_EQ(Get("a", "", 3).count(), 0);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", "", 3, 100, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), mvccpb::Event::DELETE);
  Put("b", "1");  // 4
  CompactFully(4);
  EXPECT_EQ(store_->StoredVersions(), 1);
}

TEST_F(CompactionTest, CompactStepWorksInSlices) {
  for (int i = 0; i < 50; ++i) Put("k" + std::to_string(i % 5), std::to_string(i));
  const int64_t rev = store_->CurrentRevision();
  ASSERT_TRUE(Compact(rev).ok());
  EXPECT_TRUE(store_->CompactionPending());
  int steps = 0;
  while (true) {
    auto done = store_->CompactStep(7);
    ASSERT_TRUE(done.ok());
    ++steps;
    // Readers are unaffected at any point of the compaction.
    EXPECT_EQ(Get("k", "l").count(), 5);
    if (*done) break;
    Put("other" + std::to_string(steps), "x");  // writes between slices
  }
  EXPECT_GE(steps, 7);
  EXPECT_FALSE(store_->CompactionPending());
  EXPECT_EQ(store_->StoredVersions(), 5 + steps - 1);
  EXPECT_EQ(Get("k3").kvs(0).value(), "48");
  EXPECT_EQ(Get("k3").kvs(0).version(), 10);
  auto done = store_->CompactStep(7);
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(*done);
}

TEST_F(CompactionTest, HashKVIgnoresPhysicalProgress) {
  for (int i = 0; i < 20; ++i) Put("k" + std::to_string(i % 4), std::to_string(i));
  Delete("k1");
  int64_t hash_rev = 0, compact_rev = 0;
  auto before = store_->HashKV(0, &hash_rev, &compact_rev);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(hash_rev, store_->CurrentRevision());
  EXPECT_EQ(compact_rev, -1);
  ASSERT_TRUE(Compact(15).ok());
  auto logical = store_->HashKV(0, &hash_rev, &compact_rev);
  ASSERT_TRUE(logical.ok());
  EXPECT_EQ(compact_rev, 15);
  FinishCompaction();
  auto physical = store_->HashKV(0, &hash_rev, &compact_rev);
  ASSERT_TRUE(physical.ok());
  EXPECT_EQ(*logical, *physical);
  EXPECT_NE(*before, *logical);

  EXPECT_EQ(store_->HashKV(10, &hash_rev, &compact_rev).status().message(),
            "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(store_->HashKV(100, &hash_rev, &compact_rev).status().message(),
            "etcdserver: mvcc: required revision is a future revision");
  auto at16 = store_->HashKV(16, &hash_rev, &compact_rev);
  ASSERT_TRUE(at16.ok());
  EXPECT_EQ(hash_rev, 16);
  EXPECT_NE(*at16, *physical);
}

// Maintenance.Hash: the stored bytes of every table, so a lease (not a key) changes it too.
TEST_F(CompactionTest, HashCoversEveryTableAndSurvivesReopen) {
  Put("a", "1");
  auto first = store_->Hash();
  ASSERT_TRUE(first.ok()) << first.status();
  Get("a");
  EXPECT_EQ(*store_->Hash(), *first);  // reads change nothing

  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseGrant(7, 60).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  auto with_lease = store_->Hash();
  ASSERT_TRUE(with_lease.ok());
  EXPECT_NE(*with_lease, *first);
  Put("b", "2");
  auto with_key = store_->Hash();
  ASSERT_TRUE(with_key.ok());
  EXPECT_NE(*with_key, *with_lease);

  Reopen();
  EXPECT_EQ(*store_->Hash(), *with_key);
}

}  // namespace
}  // namespace cairn::mvcc::testing
