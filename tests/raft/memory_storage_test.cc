#include "raft/memory_storage.h"

#include <gtest/gtest.h>

#include "tests/raft/test_cluster.h"

namespace cairn::raft {
namespace {

using testing::MakeLog;

TEST(MemoryStorageTest, EmptyLogStartsAtOne) {
  MemoryStorage s;
  EXPECT_EQ(*s.FirstIndex(), 1u);
  EXPECT_EQ(*s.LastIndex(), 0u);
  EXPECT_EQ(*s.Term(0), 0u);
  EXPECT_TRUE(IsUnavailableError(s.Term(1).status()));
}

TEST(MemoryStorageTest, EntriesHonourBoundsAndSizeLimit) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(MakeLog({1, 1, 2, 3})).ok());
  auto all = s.Entries(1, 5, kNoLimit);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  auto one = s.Entries(2, 5, 1);  // a tiny limit still returns one entry
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].index(), 2u);
  EXPECT_TRUE(IsUnavailableError(s.Entries(1, 6, kNoLimit).status()));
}

TEST(MemoryStorageTest, AppendReplacesConflictingSuffix) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(MakeLog({1, 1, 1})).ok());
  cairnpb::Entry e;
  e.set_index(2);
  e.set_term(2);
  ASSERT_TRUE(s.Append({e}).ok());
  EXPECT_EQ(*s.LastIndex(), 2u);
  EXPECT_EQ(*s.Term(2), 2u);
  cairnpb::Entry gap;
  gap.set_index(5);
  gap.set_term(2);
  EXPECT_FALSE(s.Append({gap}).ok());
}

TEST(MemoryStorageTest, CompactKeepsTermOfCompactionPoint) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(MakeLog({1, 2, 3, 4, 5})).ok());
  ASSERT_TRUE(s.CreateSnapshot(3, testing::Voters({1}), "state").ok());
  ASSERT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(*s.FirstIndex(), 4u);
  EXPECT_EQ(*s.Term(3), 3u);
  EXPECT_TRUE(IsCompactedError(s.Term(2).status()));
  EXPECT_TRUE(IsCompactedError(s.Entries(3, 5, kNoLimit).status()));
  EXPECT_TRUE(IsCompactedError(s.Compact(2)));
  auto snap = s.GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata().index(), 3u);
  EXPECT_EQ(snap->metadata().term(), 3u);
  EXPECT_EQ(snap->data(), "state");
}

TEST(MemoryStorageTest, ApplySnapshotReplacesLog) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(MakeLog({1, 1})).ok());
  cairnpb::Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  ASSERT_TRUE(s.ApplySnapshot(snap).ok());
  EXPECT_EQ(*s.FirstIndex(), 11u);
  EXPECT_EQ(*s.LastIndex(), 10u);
  EXPECT_EQ(*s.Term(10), 4u);
  snap.mutable_metadata()->set_index(5);
  EXPECT_FALSE(s.ApplySnapshot(snap).ok());
}

}  // namespace
}  // namespace cairn::raft
