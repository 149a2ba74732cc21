// Reads at past revisions walk each key's chain of versions (format 3): many versions, deletes and
// re-creations, long keys, and compaction in slices, checked against a model of every revision.
#include <map>
#include <optional>
#include <random>

#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using ChainTest = StoreTest;

struct Version {
  std::string value;
  int64_t create = 0, mod = 0, version = 0;
};
using Snapshot = std::map<std::string, Version>;

std::string Show(const Snapshot& snapshot) {
  std::string out;
  for (const auto& [key, v] : snapshot) {
    out += absl::StrCat(key.size() > 40 ? absl::StrCat("long", key.size(), key.substr(key.size() - 2)) : key, "=",
                        v.value, "@", v.create, "/", v.mod, "/v", v.version, " ");
  }
  return out;
}

std::string Show(const etcdserverpb::RangeResponse& resp) {
  Snapshot snapshot;
  for (const auto& kv : resp.kvs()) {
    snapshot[kv.key()] = Version{kv.value(), kv.create_revision(), kv.mod_revision(), kv.version()};
  }
  return Show(snapshot);
}

class ChainModelTest : public StoreTest {
 protected:
  // Random puts and deletes over a few keys (two of them long and sharing their first 400 bytes),
  // one request per revision, recording the whole key space after each.
  void Write(int requests, uint32_t seed) {
    const std::vector<std::string> keys = {"a", "b", "c", std::string(420, 'p') + "1", std::string(420, 'p') + "2"};
    std::mt19937 rng(seed);
    if (history_.empty()) history_.push_back(Snapshot());  // revision 1
    while (requests-- > 0) {
      Snapshot now = history_.back();
      const std::string& key = keys[rng() % keys.size()];
      if (rng() % 4 == 0 && now.count(key) != 0) {
        Delete(key);
        now.erase(key);
      } else {
        const std::string value = absl::StrCat("v", history_.size() + 1);
        Put(key, value);
        const int64_t rev = static_cast<int64_t>(history_.size()) + 1;
        auto it = now.find(key);
        if (it == now.end()) {
          now[key] = Version{value, rev, rev, 1};
        } else {
          it->second = Version{value, it->second.create, rev, it->second.version + 1};
        }
      }
      history_.push_back(now);
    }
    ASSERT_EQ(store_->CurrentRevision(), static_cast<int64_t>(history_.size()));
  }

  // Every revision from `from` on: the whole range, and each key alone.
  void ExpectModel(int64_t from) {
    for (int64_t rev = from; rev <= store_->CurrentRevision(); ++rev) {
      const Snapshot& want = history_[rev - 1];
      EXPECT_EQ(Show(Get(std::string(1, '\0'), std::string(1, '\0'), rev)), Show(want)) << "at " << rev;
      for (const auto& [key, v] : want) {
        auto one = Get(key, "", rev);
        ASSERT_EQ(one.kvs_size(), 1) << key.size() << " at " << rev;
        EXPECT_EQ(one.kvs(0).value(), v.value);
      }
    }
  }

  std::vector<Snapshot> history_;  // [rev - 1]
};

TEST_F(ChainModelTest, EveryPastRevisionReadsAsItWas) {
  Write(120, 1);
  ExpectModel(1);
  Reopen();
  ExpectModel(1);
}

TEST_F(ChainModelTest, CompactionInSlicesKeepsEveryRevisionFromTheCompactedOne) {
  Write(100, 2);
  const int64_t compact_at = 60;
  ASSERT_TRUE(Compact(compact_at).ok());
  int64_t hash_rev = 0, compact_rev = 0;
  auto logical = store_->HashKV(0, &hash_rev, &compact_rev);
  auto at_compacted = store_->HashKV(compact_at, &hash_rev, &compact_rev);
  ASSERT_TRUE(logical.ok() && at_compacted.ok());
  const int64_t stored_before = store_->StoredVersions();
  while (true) {
    auto done = store_->CompactStep(9);
    ASSERT_TRUE(done.ok());
    // Mid-way and after, reads at and above the compacted revision and the hash are unchanged.
    ExpectModel(compact_at);
    EXPECT_EQ(*store_->HashKV(0, &hash_rev, &compact_rev), *logical);
    EXPECT_EQ(*store_->HashKV(compact_at, &hash_rev, &compact_rev), *at_compacted);
    if (*done) break;
  }
  EXPECT_LT(store_->StoredVersions(), stored_before);
  // More writes after the compaction, then the next one.
  Write(40, 3);
  ExpectModel(compact_at);
  CompactFully(store_->CurrentRevision() - 5);
  ExpectModel(store_->CurrentRevision() - 5);
}

TEST_F(ChainTest, CompactionRemovesSupersededVersionsAndMarkersBelowTheRevision) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Delete("a");    // 4
  Put("a", "3");  // 5: re-created, linked to the marker at 4
  Put("b", "1");  // 6
  Delete("b");    // 7
  EXPECT_EQ(store_->StoredVersions(), 6);
  EXPECT_EQ(Get("a", "", 3).kvs(0).value(), "2");
  EXPECT_EQ(Get("a", "", 4).count(), 0);
  EXPECT_EQ(Get("a", "", 5).kvs(0).create_revision(), 5);

  CompactFully(7);
  // a@2 and a@3 are superseded, the marker a@4 is below 7, b@6 is superseded by the marker b@7,
  // which sits exactly at the compacted revision and stays. Left: a@5 and the marker b@7.
  EXPECT_EQ(store_->StoredVersions(), 2);
  EXPECT_EQ(Get("a", "", 7).kvs(0).value(), "3");
  EXPECT_EQ(Get("b", "", 7).count(), 0);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("b", "", 7, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), mvccpb::Event::DELETE);
  EXPECT_FALSE(events[0].has_prev_kv());  // b@6 was superseded at the compacted revision

  Put("b", "2");  // 8: re-created over the marker still there
  EXPECT_EQ(Get("b", "", 7).count(), 0);
  EXPECT_EQ(Get("b", "", 8).kvs(0).value(), "2");
  CompactFully(8);
  EXPECT_EQ(store_->StoredVersions(), 2);  // a@5, b@8: the marker went with this compaction
  EXPECT_EQ(Get("b", "", 8).kvs(0).version(), 1);
  EXPECT_EQ(Keys(Get("a", "z", 8)), (std::vector<std::string>{"a", "b"}));
}

TEST_F(ChainTest, DeletedKeyWhoseMarkerIsCompactedLeavesNothing) {
  Put("gone", "1");  // 2
  Delete("gone");    // 3
  Put("x", "1");     // 4
  CompactFully(4);
  EXPECT_EQ(store_->StoredVersions(), 1);
  EXPECT_EQ(Get("gone", "", 4).count(), 0);
  EXPECT_EQ(Get("a", "z", 4).count(), 1);
  Put("gone", "2");  // 5: a fresh chain, no link
  EXPECT_EQ(Get("gone", "", 4).count(), 0);
  EXPECT_EQ(Get("gone").kvs(0).create_revision(), 5);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("gone", "", 4, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].has_prev_kv());
}

TEST_F(ChainTest, EventsCarryThePreviousVersionWhileItIsStored) {
  Put("k", "1");  // 2
  Put("k", "2");  // 3
  Put("k", "3");  // 4
  Delete("k");    // 5
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("k", "", 2, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(events[0].has_prev_kv());
  EXPECT_EQ(events[1].prev_kv().value(), "1");
  EXPECT_EQ(events[2].prev_kv().value(), "2");
  EXPECT_EQ(events[3].prev_kv().value(), "3");
  EXPECT_EQ(events[3].prev_kv().mod_revision(), 4);

  CompactFully(3);
  events.clear();
  ASSERT_TRUE(store_->ReadEvents("k", "", 3, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[0].has_prev_kv());  // k@2 was superseded at the compacted revision
  EXPECT_EQ(events[1].prev_kv().value(), "2");
  EXPECT_EQ(events[2].prev_kv().value(), "3");
  EXPECT_EQ(next, 6);
}

TEST_F(ChainTest, SameKeyTwiceInOneRevisionLinksBySubRevision) {
  etcdserverpb::TxnRequest req;
  *req.add_success() = PutOp("k", "1");
  *req.add_success() = DeleteOp("k");
  *req.add_success() = PutOp("k", "2");
  Txn(req);  // 2.0 put, 2.1 delete, 2.2 re-create
  Put("k", "3");  // 3
  EXPECT_EQ(Get("k", "", 2).kvs(0).value(), "2");
  EXPECT_EQ(Get("k", "", 2).kvs(0).create_revision(), 2);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("k", "", 2, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].type(), mvccpb::Event::DELETE);
  // prev_kv is the key before revision 2 (etcd reads it at revision - 1): it did not exist.
  EXPECT_FALSE(events[1].has_prev_kv());
  EXPECT_FALSE(events[2].has_prev_kv());
  EXPECT_EQ(events[3].prev_kv().value(), "2");
  CompactFully(3);
  EXPECT_EQ(store_->StoredVersions(), 1);
  EXPECT_EQ(Get("k", "", 3).kvs(0).version(), 2);
  EXPECT_EQ(Get("k", "", 3).kvs(0).create_revision(), 2);
}

}  // namespace
}  // namespace cairn::mvcc::testing
