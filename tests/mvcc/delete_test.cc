#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using DeleteTest = StoreTest;

TEST_F(DeleteTest, DeletesOneKeyWithPrevKv) {
  Put("a", "1");
  Put("b", "2");
  auto resp = Delete("a", "", true);
  EXPECT_EQ(resp.deleted(), 1);
  EXPECT_EQ(resp.header().revision(), 4);
  ASSERT_EQ(resp.prev_kvs_size(), 1);
  EXPECT_EQ(resp.prev_kvs(0).key(), "a");
  EXPECT_EQ(resp.prev_kvs(0).value(), "1");
  EXPECT_EQ(Get("a").count(), 0);
  EXPECT_EQ(Get("b").count(), 1);
}

TEST_F(DeleteTest, RangeDeleteTakesOneRevisionForAllKeys) {
  Put("k1", "1");
  Put("k2", "2");
  Put("k3", "3");
  Put("z", "z");
  auto resp = Delete("k", "l");
  EXPECT_EQ(resp.deleted(), 3);
  EXPECT_EQ(resp.prev_kvs_size(), 0);  // not asked for
  EXPECT_EQ(resp.header().revision(), 6);
  EXPECT_EQ(store_->CurrentRevision(), 6);
  EXPECT_EQ(Get("k", "l").count(), 0);
  EXPECT_EQ(Get("k", "l", 5).count(), 3);
  EXPECT_EQ(Put("k1", "again").header().revision(), 7);
}

TEST_F(DeleteTest, FromKeyDeletesEverythingAfter) {
  Put("a", "1");
  Put("b", "2");
  Put("c", "3");
  auto resp = Delete("b", std::string(1, '\0'), true);
  EXPECT_EQ(resp.deleted(), 2);
  ASSERT_EQ(resp.prev_kvs_size(), 2);
  EXPECT_EQ(resp.prev_kvs(1).key(), "c");
  EXPECT_EQ(Keys(Get("a", std::string(1, '\0'))), std::vector<std::string>{"a"});
}

TEST_F(DeleteTest, DeletingNothingKeepsTheRevision) {
  Put("a", "1");
  auto resp = Delete("nothing");
  EXPECT_EQ(resp.deleted(), 0);
  EXPECT_EQ(resp.header().revision(), 2);
  EXPECT_EQ(store_->CurrentRevision(), 2);
  EXPECT_EQ(Put("b", "x").header().revision(), 3);
}

TEST_F(DeleteTest, DeleteEventsCarryKeyDeletionRevisionAndPrevKv) {
  Put("a", "1");
  Put("b", "2");
  auto batch = store_->BeginWrite();
  etcdserverpb::DeleteRangeRequest req;
  req.set_key("a");
  req.set_range_end("c");
  etcdserverpb::DeleteRangeResponse resp;
  ASSERT_TRUE(batch->DeleteRange(req, &resp).ok());
  ASSERT_EQ(batch->events().size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& ev = batch->events()[i];
    EXPECT_EQ(ev.type(), mvccpb::Event::DELETE);
    EXPECT_EQ(ev.kv().key(), i == 0 ? "a" : "b");
    EXPECT_EQ(ev.kv().mod_revision(), 4);
    EXPECT_EQ(ev.kv().create_revision(), 0);
    EXPECT_TRUE(ev.kv().value().empty());
    EXPECT_EQ(ev.prev_kv().value(), i == 0 ? "1" : "2");
  }
  ASSERT_TRUE(batch->Commit().ok());
}

// A txn may put a key and then delete it with a from-key delete (etcd accepts it). Watchers get
// the key as it was before the revision as the delete's prev_kv, as etcd reads it at revision - 1:
// nothing for a key the txn created, the old version for a key that existed.
TEST_F(DeleteTest, DeleteOfAKeyPutInTheSameTxnCarriesTheKeyAsItWasBefore) {
  Put("old", "before");
  auto batch = store_->BeginWrite();
  etcdserverpb::TxnRequest txn;
  *txn.add_success() = PutOp("new", "n");
  *txn.add_success() = PutOp("old", "during");
  *txn.add_success() = DeleteOp("a", std::string(1, '\0'));
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(batch->Txn(txn, &resp).ok());
  ASSERT_EQ(batch->events().size(), 4u);
  const auto& deleted_new = batch->events()[2];
  const auto& deleted_old = batch->events()[3];
  EXPECT_EQ(deleted_new.type(), mvccpb::Event::DELETE);
  EXPECT_EQ(deleted_new.kv().key(), "new");
  EXPECT_FALSE(deleted_new.has_prev_kv());
  EXPECT_EQ(deleted_old.kv().key(), "old");
  EXPECT_EQ(deleted_old.prev_kv().value(), "before");
  ASSERT_TRUE(batch->Commit().ok());

  // A watcher catching up from history gets the same.
  std::vector<mvccpb::Event> replayed;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", std::string(1, '\0'), store_->CurrentRevision(), 10, &replayed, &next).ok());
  ASSERT_EQ(replayed.size(), 4u);
  for (const auto& e : replayed) {
    if (e.type() != mvccpb::Event::DELETE) continue;
    if (e.kv().key() == "new") EXPECT_FALSE(e.has_prev_kv());
    if (e.kv().key() == "old") EXPECT_EQ(e.prev_kv().value(), "before");
  }
}

}  // namespace
}  // namespace cairn::mvcc::testing
