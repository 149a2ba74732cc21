#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using EventsTest = StoreTest;

TEST_F(EventsTest, ReadEventsReplaysHistoryInRevisionOrder) {
  Put("a", "1");   // 2
  Put("b", "1");   // 3
  Put("a", "2");   // 4
  Delete("a");     // 5
  Put("c", "1");   // 6
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", "", 1, 100, &events, &next).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv().mod_revision(), 2);
  EXPECT_FALSE(events[0].has_prev_kv());
  EXPECT_EQ(events[1].kv().value(), "2");
  EXPECT_EQ(events[1].prev_kv().value(), "1");
  EXPECT_EQ(events[2].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(events[2].kv().mod_revision(), 5);
  EXPECT_EQ(events[2].prev_kv().value(), "2");
  EXPECT_EQ(next, 7);

  events.clear();
  ASSERT_TRUE(store_->ReadEvents("a", "z", 4, 100, &events, &next).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].kv().key(), "c");

  events.clear();
  ASSERT_TRUE(store_->ReadEvents("a", "z", 7, 100, &events, &next).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(next, 7);
}

TEST_F(EventsTest, MaxEventsNeverSplitsARevision) {
  etcdserverpb::TxnRequest txn;
  *txn.add_success() = PutOp("x1", "1");
  *txn.add_success() = PutOp("x2", "1");
  *txn.add_success() = PutOp("x3", "1");
  Txn(txn);          // 2
  Put("x4", "1");    // 3
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("x", "y", 1, 2, &events, &next).ok());
  EXPECT_EQ(events.size(), 3u);
  EXPECT_EQ(next, 3);
  events.clear();
  ASSERT_TRUE(store_->ReadEvents("x", "y", next, 2, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv().key(), "x4");
  EXPECT_EQ(next, 4);
}

// The writer applies batches nobody watches without building their events: the store, the responses and
// the history readers replay from must be what they would have been.
TEST_F(EventsTest, BatchWithoutEventsAnswersTheSameAndHistoryStillHasThem) {
  Put("a", "1");  // 2
  auto batch = store_->BeginWrite();
  ASSERT_NE(batch, nullptr);
  batch->set_record_events(false);
  EXPECT_FALSE(batch->changed_keys());
  etcdserverpb::PutRequest put;
  put.set_key("a");
  put.set_value("2");
  put.set_prev_kv(true);
  etcdserverpb::PutResponse put_resp;
  ASSERT_TRUE(batch->Put(put, &put_resp).ok());  // 3
  EXPECT_EQ(put_resp.prev_kv().key(), "a");
  EXPECT_EQ(put_resp.prev_kv().value(), "1");
  EXPECT_EQ(put_resp.prev_kv().mod_revision(), 2);
  etcdserverpb::PutRequest keep_value;
  keep_value.set_key("a");
  keep_value.set_ignore_value(true);
  etcdserverpb::PutResponse scratch;
  ASSERT_TRUE(batch->Put(keep_value, &scratch).ok());  // 4
  etcdserverpb::PutRequest fresh;
  fresh.set_key("b");
  fresh.set_value("1");
  ASSERT_TRUE(batch->Put(fresh, &scratch).ok());  // 5
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("b");
  del.set_prev_kv(true);
  etcdserverpb::DeleteRangeResponse del_resp;
  ASSERT_TRUE(batch->DeleteRange(del, &del_resp).ok());  // 6
  ASSERT_EQ(del_resp.prev_kvs_size(), 1);
  EXPECT_EQ(del_resp.prev_kvs(0).value(), "1");
  EXPECT_TRUE(batch->events().empty());
  EXPECT_TRUE(batch->changed_keys());
  EXPECT_EQ(batch->revision(), 6);
  ASSERT_TRUE(batch->Commit().ok());

  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", "c", 3, 100, &events, &next).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kv().value(), "2");
  EXPECT_EQ(events[0].prev_kv().value(), "1");
  EXPECT_EQ(events[1].kv().value(), "2") << "ignore_value kept the value";
  EXPECT_EQ(events[1].kv().version(), 3);
  EXPECT_EQ(events[1].kv().create_revision(), 2);
  EXPECT_EQ(events[1].prev_kv().mod_revision(), 3);
  EXPECT_EQ(events[2].kv().key(), "b");
  EXPECT_EQ(events[3].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(events[3].prev_kv().value(), "1");
  EXPECT_EQ(next, 7);
}

TEST_F(EventsTest, BatchThatChangesNoKeyReportsSo) {
  auto batch = store_->BeginWrite();
  ASSERT_NE(batch, nullptr);
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("missing");
  etcdserverpb::DeleteRangeResponse resp;
  ASSERT_TRUE(batch->DeleteRange(del, &resp).ok());
  EXPECT_FALSE(batch->changed_keys());
  EXPECT_TRUE(batch->events().empty());
}

TEST_F(EventsTest, ReadEventsBelowCompactionFails) {
  Put("a", "1");
  Put("a", "2");
  Put("a", "3");
  CompactFully(3);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  EXPECT_EQ(store_->ReadEvents("a", "", 2, 10, &events, &next).message(),
            "etcdserver: mvcc: required revision has been compacted");
  ASSERT_TRUE(store_->ReadEvents("a", "", 3, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].has_prev_kv());  // compacted away
  EXPECT_EQ(events[1].prev_kv().value(), "2");
}

TEST_F(EventsTest, NextRevisionNeverGoesBackwards) {
  Put("a", "1");
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", "", 10, 5, &events, &next).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(next, 10);
}

using LeaseTest = StoreTest;

TEST_F(LeaseTest, DeletedOrReassignedKeysLeaveTheLease) {
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseGrant(1, 10).ok());
    ASSERT_TRUE(batch->LeaseGrant(2, 10).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  Put("a", "1", 1);
  Put("b", "1", 1);
  Delete("a");
  Put("b", "2", 2);  // moves b to lease 2
  const int64_t rev = store_->CurrentRevision();
  auto batch = store_->BeginWrite();
  etcdserverpb::LeaseRevokeResponse resp;
  ASSERT_TRUE(batch->LeaseRevoke(1, &resp).ok());
  EXPECT_TRUE(batch->events().empty());
  ASSERT_TRUE(batch->LeaseRevoke(2, &resp).ok());
  ASSERT_EQ(batch->events().size(), 1u);
  EXPECT_EQ(batch->events()[0].kv().key(), "b");
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), rev + 1);
}

TEST_F(LeaseTest, LeasesSurviveRestart) {
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseGrant(5, 30).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  Put("k", "v", 5);
  Put(std::string(500, 'L'), "v", 5);
  Reopen();
  std::vector<Store::LeaseRecord> leases;
  ASSERT_TRUE(store_->ListLeases(&leases).ok());
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].id, 5);
  EXPECT_EQ(leases[0].ttl, 30);
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->LeaseKeys(5, &keys).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{std::string(500, 'L'), "k"}));
  auto batch = store_->BeginWrite();
  EXPECT_TRUE(batch->LeaseExists(5));
  etcdserverpb::LeaseRevokeResponse resp;
  ASSERT_TRUE(batch->LeaseRevoke(5, &resp).ok());
  EXPECT_EQ(batch->events().size(), 2u);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(Get("k").count(), 0);
  leases.clear();
  ASSERT_TRUE(store_->ListLeases(&leases).ok());
  EXPECT_TRUE(leases.empty());
}

TEST_F(LeaseTest, RevokeDeletesAttachedKeysInOneRevision) {
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseGrant(7, 60).ok());
    EXPECT_TRUE(batch->LeaseExists(7));
    EXPECT_EQ(batch->LeaseGrant(7, 60).message(), "etcdserver: lease already exists");
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_EQ(store_->CurrentRevision(), 1);  // granting takes no revision
  Put("s/1", "a", 7);
  Put("s/2", "b", 7);
  Put("s/3", "c", 7);
  Put("s/3", "c");  // detached again
  Put("other", "x");
  auto batch = store_->BeginWrite();
  etcdserverpb::LeaseRevokeResponse resp;
  ASSERT_TRUE(batch->LeaseRevoke(7, &resp).ok());
  EXPECT_EQ(resp.header().revision(), 7);
  ASSERT_EQ(batch->events().size(), 2u);
  EXPECT_EQ(batch->events()[0].kv().key(), "s/1");
  EXPECT_EQ(batch->events()[1].kv().mod_revision(), 7);
  EXPECT_FALSE(batch->LeaseExists(7));
  absl::Status again = batch->LeaseRevoke(7, &resp);
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(again.message(), "etcdserver: requested lease not found");
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), 7);
  EXPECT_EQ(Keys(Get("a", "z")), (std::vector<std::string>{"other", "s/3"}));
}

TEST_F(LeaseTest, RevokingALeaseWithoutKeysTakesNoRevision) {
  auto batch = store_->BeginWrite();
  ASSERT_TRUE(batch->LeaseGrant(1, 10).ok());
  etcdserverpb::LeaseRevokeResponse resp;
  ASSERT_TRUE(batch->LeaseRevoke(1, &resp).ok());
  EXPECT_EQ(resp.header().revision(), 1);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), 1);
}

TEST_F(LeaseTest, CheckpointKeepsTheRemainingTtlWithTheLeaseAcrossRestart) {
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseGrant(5, 600).ok());
    ASSERT_TRUE(batch->LeaseGrant(6, 600).ok());
    ASSERT_TRUE(batch->LeaseCheckpoint(5, 420).ok());
    ASSERT_TRUE(batch->LeaseCheckpoint(6, 300).ok());
    EXPECT_EQ(batch->LeaseCheckpoint(7, 10).message(), "etcdserver: requested lease not found");
    ASSERT_TRUE(batch->Commit().ok());
  }
  {
    auto batch = store_->BeginWrite();
    ASSERT_TRUE(batch->LeaseCheckpoint(6, 0).ok());  // cleared by a renewal
    ASSERT_TRUE(batch->Commit().ok());
  }
  Reopen();
  std::vector<Store::LeaseRecord> leases;
  ASSERT_TRUE(store_->ListLeases(&leases).ok());
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].id, 5);
  EXPECT_EQ(leases[0].ttl, 600);
  EXPECT_EQ(leases[0].remaining_ttl, 420);
  EXPECT_EQ(leases[1].ttl, 600);
  EXPECT_EQ(leases[1].remaining_ttl, 0);
  auto batch = store_->BeginWrite();
  etcdserverpb::LeaseRevokeResponse resp;
  ASSERT_TRUE(batch->LeaseRevoke(5, &resp).ok());  // a checkpointed lease revokes as any other
  ASSERT_TRUE(batch->Commit().ok());
}

}  // namespace
}  // namespace cairn::mvcc::testing
