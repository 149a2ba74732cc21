// Reads at past revisions, which start at a key's head (`latest` for a live key, `deleted` for a
// deleted one) and follow its chain back through `versions`; events and compaction along those
// chains; and a model check of every key at every revision after a mixed workload.
#include <map>
#include <random>

#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

class PastRevisionTest : public StoreTest {
 protected:
  // Value, create/mod revisions and version of `key` at `rev`, "" when absent.
  std::string At(const std::string& key, int64_t rev) {
    auto resp = Get(key, "", rev);
    if (resp.kvs_size() == 0) return "";
    const auto& kv = resp.kvs(0);
    return kv.value() + "@" + std::to_string(kv.create_revision()) + "/" + std::to_string(kv.mod_revision()) +
           "/v" + std::to_string(kv.version());
  }
  std::vector<mvccpb::Event> Events(const std::string& key, const std::string& end, int64_t from) {
    std::vector<mvccpb::Event> events;
    int64_t next = 0;
    EXPECT_TRUE(store_->ReadEvents(key, end, from, 1000, &events, &next).ok());
    return events;
  }
};

TEST_F(PastRevisionTest, EveryRevisionOfAKeysLife) {
  Put("k", "a");   // 2
  Put("k", "b");   // 3
  Delete("k");     // 4
  Put("x", "x");   // 5
  Put("k", "c");   // 6  re-created
  Put("k", "d");   // 7
  EXPECT_EQ(At("k", 1), "");
  EXPECT_EQ(At("k", 2), "a@2/2/v1");
  EXPECT_EQ(At("k", 3), "b@2/3/v2");
  EXPECT_EQ(At("k", 4), "");
  EXPECT_EQ(At("k", 5), "");
  EXPECT_EQ(At("k", 6), "c@6/6/v1");
  EXPECT_EQ(At("k", 7), "d@6/7/v2");
  EXPECT_EQ(At("k", 0), "d@6/7/v2");
  // A key whose only version is the live one: absent before it, present from it on.
  EXPECT_EQ(At("x", 4), "");
  EXPECT_EQ(At("x", 5), "x@5/5/v1");
  EXPECT_EQ(At("x", 6), "x@5/5/v1");
}

TEST_F(PastRevisionTest, RangesAtPastRevisionsMixDeletedAndLiveKeys) {
  Put("a", "1");   // 2
  Put("b", "1");   // 3
  Put("c", "1");   // 4
  Delete("b");     // 5
  Put("d", "1");   // 6  head in latest, no older version
  Put("a", "2");   // 7  head in latest, linked to a@2
  Delete("c");     // 8  head in deleted
  Put("e", "1");   // 9
  auto keys_at = [&](int64_t rev) { return Keys(Get("a", "z", rev)); };
  using V = std::vector<std::string>;
  EXPECT_EQ(keys_at(1), V{});
  EXPECT_EQ(keys_at(4), (V{"a", "b", "c"}));
  EXPECT_EQ(keys_at(5), (V{"a", "c"}));
  EXPECT_EQ(keys_at(6), (V{"a", "c", "d"}));
  EXPECT_EQ(keys_at(7), (V{"a", "c", "d"}));
  EXPECT_EQ(keys_at(8), (V{"a", "d"}));
  EXPECT_EQ(keys_at(9), (V{"a", "d", "e"}));
  EXPECT_EQ(Get("a", "z", 6).kvs(0).value(), "1");
  EXPECT_EQ(Get("a", "z", 7).kvs(0).value(), "2");
  // count, limit and more at a past revision.
  etcdserverpb::RangeRequest req;
  req.set_key("a");
  req.set_range_end("z");
  req.set_revision(6);
  req.set_limit(2);
  auto resp = Range(req);
  EXPECT_EQ(resp.count(), 3);
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(Keys(resp), (V{"a", "c"}));
  // From-key ranges and ranges starting between keys.
  EXPECT_EQ(Keys(Get("b", std::string(1, '\0'), 4)), (V{"b", "c"}));
  EXPECT_EQ(Keys(Get("bb", "d", 4)), (V{"c"}));
  EXPECT_EQ(Keys(Get("bb", "e", 6)), (V{"c", "d"}));
}

TEST_F(PastRevisionTest, SeveralChangesToOneKeyInOneTxn) {
  etcdserverpb::TxnRequest txn;
  *txn.add_success() = PutOp("k", "1");
  *txn.add_success() = PutOp("k", "2");
  Txn(txn);        // 2: (2,0) and (2,1)
  Put("k", "3");   // 3
  EXPECT_EQ(At("k", 2), "2@2/2/v2");
  EXPECT_EQ(At("k", 3), "3@2/3/v3");
  auto events = Events("k", "", 2);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv().value(), "1");
  EXPECT_FALSE(events[0].has_prev_kv());
  EXPECT_EQ(events[1].kv().value(), "2");
  // prev_kv is the key before the revision (etcd reads it at revision - 1): k did not exist.
  EXPECT_FALSE(events[1].has_prev_kv());
  EXPECT_EQ(events[2].kv().value(), "3");
  EXPECT_EQ(events[2].prev_kv().value(), "2");
  // Deleted in the txn that created it.
  etcdserverpb::TxnRequest txn2;
  *txn2.add_success() = PutOp("t", "1");
  *txn2.add_success() = DeleteOp("t");
  Txn(txn2);  // 4
  EXPECT_EQ(At("t", 4), "");
  events = Events("t", "", 4);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type(), mvccpb::Event::DELETE);
  EXPECT_FALSE(events[1].has_prev_kv());
}

TEST_F(PastRevisionTest, ReadEventsPrevKvAcrossLatestAndHistory) {
  Put("k", "a");  // 2
  Put("k", "b");  // 3 (live, linked to k@2)
  Put("n", "n");  // 4 (live, no older version)
  auto events = Events("a", "z", 1);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv().value(), "a");
  EXPECT_FALSE(events[0].has_prev_kv());
  EXPECT_EQ(events[1].kv().value(), "b");
  EXPECT_EQ(events[1].kv().version(), 2);
  EXPECT_EQ(events[1].prev_kv().value(), "a");
  EXPECT_EQ(events[2].kv().key(), "n");
  EXPECT_FALSE(events[2].has_prev_kv());
  Delete("k");  // 5
  events = Events("k", "", 3);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv().value(), "b");
  EXPECT_EQ(events[0].prev_kv().value(), "a");
  EXPECT_EQ(events[1].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(events[1].kv().mod_revision(), 5);
  EXPECT_EQ(events[1].prev_kv().value(), "b");
  Put("k", "c");  // 6: re-created, the previous entry is a deletion marker
  events = Events("k", "", 6);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv().value(), "c");
  EXPECT_FALSE(events[0].has_prev_kv());
}

TEST_F(PastRevisionTest, CompactionKeepsTheLiveVersionWhateverItsAge) {
  Put("old", "1");   // 2: live, never changed again
  Put("k", "1");     // 3
  Put("k", "2");     // 4
  Put("gone", "1");  // 5
  Delete("gone");    // 6
  Put("k", "3");     // 7
  CompactFully(7);
  EXPECT_EQ(At("old", 7), "1@2/2/v1");
  EXPECT_EQ(At("old", 0), "1@2/2/v1");
  EXPECT_EQ(At("k", 7), "3@3/7/v3");
  EXPECT_EQ(At("gone", 7), "");
  EXPECT_EQ(Keys(Get("a", "z", 7)), (std::vector<std::string>{"k", "old"}));
  // Only the three live versions remain.
  EXPECT_EQ(store_->StoredVersions(), 2);
  Put("k", "4");  // 8
  CompactFully(8);
  EXPECT_EQ(store_->StoredVersions(), 2);
  EXPECT_EQ(At("k", 8), "4@3/8/v4");
  EXPECT_EQ(At("old", 8), "1@2/2/v1");
}

TEST_F(PastRevisionTest, CompactionBetweenVersionsKeepsTheVersionAtTheCompactedRevision) {
  Put("k", "1");  // 2
  Put("k", "2");  // 3
  Put("x", "1");  // 4
  Put("k", "3");  // 5
  CompactFully(4);
  EXPECT_EQ(At("k", 4), "2@2/3/v2");
  EXPECT_EQ(At("k", 5), "3@2/5/v3");
  EXPECT_EQ(Keys(Get("a", "z", 4)), (std::vector<std::string>{"k", "x"}));
  auto events = Events("k", "", 4);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].prev_kv().value(), "2");
}

// A model of the whole key space at every revision, checked against the store after a mixed
// workload of puts, deletes and multi-key txns, before and after compaction and after a reopen.
TEST_F(PastRevisionTest, MatchesAModelAtEveryRevision) {
  struct Kv {
    std::string value;
    int64_t create = 0, mod = 0, version = 0;
  };
  using State = std::map<std::string, Kv>;
  std::vector<State> at(2);  // at[rev]; revision 1 is empty
  std::mt19937 rng(7);
  const std::vector<std::string> keys = {"a", "b", "ba", "c", "d", "e", "f"};
  for (int step = 0; step < 300; ++step) {
    State next = at.back();
    const int64_t rev = static_cast<int64_t>(at.size());
    const std::string& key = keys[rng() % keys.size()];
    const int kind = rng() % 10;
    bool changed = true;
    if (kind < 6) {
      const std::string value = "v" + std::to_string(step);
      Put(key, value);
      Kv& kv = next[key];
      if (kv.version == 0) kv.create = rev;
      kv.value = value;
      kv.mod = rev;
      ++kv.version;
    } else if (kind < 8) {
      const std::string end = key + "\xff";
      const int64_t deleted = Delete(key, kind == 6 ? "" : end).deleted();
      int64_t expected = 0;
      for (auto it = next.begin(); it != next.end();) {
        const bool hit = kind == 6 ? it->first == key : (it->first >= key && it->first < end);
        if (hit) {
          it = next.erase(it);
          ++expected;
        } else {
          ++it;
        }
      }
      EXPECT_EQ(deleted, expected);
      changed = expected > 0;
    } else {
      // Two puts of one key and one of another in a single revision.
      const std::string& other = keys[rng() % keys.size()];
      etcdserverpb::TxnRequest txn;
      *txn.add_success() = PutOp(key, "t1-" + std::to_string(step));
      *txn.add_success() = PutOp(other, "t2-" + std::to_string(step));
      *txn.add_success() = PutOp(key, "t3-" + std::to_string(step));
      Txn(txn);
      for (const auto& [k, v] : {std::pair<std::string, std::string>{key, "t1-"}, {other, "t2-"}, {key, "t3-"}}) {
        Kv& kv = next[k];
        if (kv.version == 0) kv.create = rev;
        kv.value = v + std::to_string(step);
        kv.mod = rev;
        ++kv.version;
      }
    }
    if (changed) at.push_back(std::move(next));
  }
  ASSERT_EQ(store_->CurrentRevision(), static_cast<int64_t>(at.size()) - 1);

  auto check_from = [&](int64_t first) {
    for (int64_t rev = first; rev < static_cast<int64_t>(at.size()); ++rev) {
      const State& state = at[rev];
      auto all = Get("a", "z", rev);
      ASSERT_EQ(all.kvs_size(), static_cast<int>(state.size())) << "rev " << rev;
      int i = 0;
      for (const auto& [k, kv] : state) {
        const auto& got = all.kvs(i++);
        EXPECT_EQ(got.key(), k) << "rev " << rev;
        EXPECT_EQ(got.value(), kv.value) << "rev " << rev << " key " << k;
        EXPECT_EQ(got.create_revision(), kv.create) << "rev " << rev << " key " << k;
        EXPECT_EQ(got.mod_revision(), kv.mod) << "rev " << rev << " key " << k;
        EXPECT_EQ(got.version(), kv.version) << "rev " << rev << " key " << k;
      }
      for (const std::string& k : keys) {
        auto one = Get(k, "", rev);
        auto it = state.find(k);
        ASSERT_EQ(one.kvs_size(), it == state.end() ? 0 : 1) << "rev " << rev << " key " << k;
        if (it != state.end()) EXPECT_EQ(one.kvs(0).value(), it->second.value);
      }
      // A bounded range starting between keys.
      auto part = Get("b", "d", rev);
      int expected = 0;
      for (const auto& [k, kv] : state) expected += k >= "b" && k < "d";
      EXPECT_EQ(part.count(), expected) << "rev " << rev;
    }
    // Every event's prev_kv is the key's state one revision earlier.
    auto events = Events("a", "z", first);
    for (const auto& event : events) {
      const int64_t rev = event.kv().mod_revision();
      const State& before = at[rev - 1];
      auto it = before.find(event.kv().key());
      if (event.prev_kv().mod_revision() == rev) continue;  // an earlier change in the same txn
      // At the compacted revision itself, the versions it superseded are gone.
      if (rev == first && first > 1) continue;
      if (it == before.end()) {
        EXPECT_FALSE(event.has_prev_kv()) << "rev " << rev;
      } else {
        EXPECT_EQ(event.prev_kv().value(), it->second.value) << "rev " << rev;
      }
    }
  };
  check_from(1);
  const int64_t mid = static_cast<int64_t>(at.size()) / 2;
  CompactFully(mid);
  check_from(mid);
  Reopen();
  check_from(mid);
}

}  // namespace
}  // namespace cairn::mvcc::testing
