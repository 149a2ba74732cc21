// Alarms (server/alarms.h) and the space quota: the set and its apply rule; the write pipeline
// applying alarm entries, refusing what they refuse the same way on every member and keeping the
// set across restarts; the store applying entries whatever its quota (so members cannot diverge);
// and a member refusing a put over its quota before proposing it, raising its alarm once.
#include "server/alarms.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/applier.h"
#include "server/config.h"
#include "server/member.h"
#include "server/write_pipeline.h"
#include "tests/server/in_process_member.h"
#include "tests/single_member_pipeline.h"

namespace cairn::server {
namespace {

using etcdserverpb::AlarmRequest;
using etcdserverpb::AlarmResponse;

AlarmRequest Request(AlarmRequest::AlarmAction action, uint64_t member, etcdserverpb::AlarmType type) {
  AlarmRequest r;
  r.set_action(action);
  r.set_memberid(member);
  r.set_alarm(type);
  return r;
}

std::vector<std::pair<uint64_t, int>> Listed(const AlarmResponse& response) {
  std::vector<std::pair<uint64_t, int>> out;
  for (const auto& a : response.alarms()) out.emplace_back(a.memberid(), a.alarm());
  return out;
}

using Pairs = std::vector<std::pair<uint64_t, int>>;

// ---------------------------------------------------------------------------------------------
// The set and its apply rule.

TEST(AlarmSetTest, ActivatingTwiceKeepsOneAlarmAndAnswersItBothTimes) {
  AlarmSet set;
  AlarmResponse first, second;
  EXPECT_TRUE(ApplyAlarmRequest(Request(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE), &set, &first));
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE), &set, &second));
  EXPECT_EQ(Listed(first), (Pairs{{7, etcdserverpb::NOSPACE}}));
  EXPECT_EQ(Listed(second), (Pairs{{7, etcdserverpb::NOSPACE}}));  // etcd: already present, still returned
  EXPECT_EQ(set.Get(etcdserverpb::NONE).size(), 1u);
}

TEST(AlarmSetTest, DeactivatingAnAbsentAlarmAnswersNothingAndChangesNothing) {
  AlarmSet set;
  set.Activate(7, etcdserverpb::NOSPACE);
  AlarmResponse other_member, other_type, present;
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::DEACTIVATE, 8, etcdserverpb::NOSPACE), &set, &other_member));
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::DEACTIVATE, 7, etcdserverpb::CORRUPT), &set, &other_type));
  EXPECT_TRUE(other_member.alarms().empty());
  EXPECT_TRUE(other_type.alarms().empty());
  EXPECT_TRUE(set.Contains(7, etcdserverpb::NOSPACE));
  EXPECT_TRUE(ApplyAlarmRequest(Request(AlarmRequest::DEACTIVATE, 7, etcdserverpb::NOSPACE), &set, &present));
  EXPECT_EQ(Listed(present), (Pairs{{7, etcdserverpb::NOSPACE}}));
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.ActiveMask(), 0u);
}

TEST(AlarmSetTest, GetListsEveryAlarmOrOneTypeIgnoringTheMemberId) {
  AlarmSet set;
  set.Activate(9, etcdserverpb::CORRUPT);
  set.Activate(3, etcdserverpb::NOSPACE);
  set.Activate(1, etcdserverpb::NOSPACE);
  AlarmResponse all, nospace, corrupt;
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::GET, 0, etcdserverpb::NONE), &set, &all));
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::GET, 12345, etcdserverpb::NOSPACE), &set, &nospace));
  EXPECT_FALSE(ApplyAlarmRequest(Request(AlarmRequest::GET, 1, etcdserverpb::CORRUPT), &set, &corrupt));
  EXPECT_EQ(Listed(all), (Pairs{{1, etcdserverpb::NOSPACE}, {3, etcdserverpb::NOSPACE}, {9, etcdserverpb::CORRUPT}}));
  EXPECT_EQ(Listed(nospace), (Pairs{{1, etcdserverpb::NOSPACE}, {3, etcdserverpb::NOSPACE}}));
  EXPECT_EQ(Listed(corrupt), (Pairs{{9, etcdserverpb::CORRUPT}}));
  EXPECT_EQ(set.ActiveMask(), AlarmBit(etcdserverpb::NOSPACE) | AlarmBit(etcdserverpb::CORRUPT));
}

TEST(AlarmSetTest, EncodesAndDecodes) {
  AlarmSet set;
  set.Activate(0xfedcba9876543210ull, etcdserverpb::NOSPACE);
  set.Activate(2, etcdserverpb::CORRUPT);
  auto decoded = AlarmSet::Decode(set.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == set);
  EXPECT_TRUE(decoded->Contains(0xfedcba9876543210ull, etcdserverpb::NOSPACE));
  auto empty = AlarmSet::Decode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(AlarmSet::Decode("\xff\xff\xff").status().code(), absl::StatusCode::kDataLoss);
}

TEST(AlarmGateTest, RefusesWhatEtcdsCappedAndCorruptAppliersRefuse) {
  auto put = [] {
    cairnpb::LogRequest r;
    r.mutable_put()->set_key("k");
    return r;
  }();
  cairnpb::LogRequest del;
  del.mutable_delete_range()->set_key("k");
  cairnpb::LogRequest txn_put;
  auto* nested = txn_put.mutable_txn()->add_failure()->mutable_request_txn();
  nested->add_success()->mutable_request_put()->set_key("k");
  cairnpb::LogRequest txn_delete;
  txn_delete.mutable_txn()->add_success()->mutable_request_delete_range()->set_key("k");
  cairnpb::LogRequest txn_read;
  txn_read.mutable_txn()->add_success()->mutable_request_range()->set_key("k");
  cairnpb::LogRequest compaction;
  compaction.mutable_compaction()->set_revision(1);
  cairnpb::LogRequest grant;
  grant.mutable_lease_grant()->set_id(1);
  cairnpb::LogRequest revoke;
  revoke.mutable_lease_revoke()->set_id(1);
  cairnpb::LogRequest alarm;
  alarm.mutable_alarm()->set_action(AlarmRequest::DEACTIVATE);

  const uint32_t nospace = AlarmBit(etcdserverpb::NOSPACE), corrupt = AlarmBit(etcdserverpb::CORRUPT);
  const absl::Status no_space = mvcc::ErrNoSpace();
  EXPECT_EQ(AlarmGate(nospace, put), no_space);
  EXPECT_EQ(AlarmGate(nospace, txn_put), no_space);
  EXPECT_EQ(AlarmGate(nospace, grant), no_space);
  for (const auto* passes : {&del, &txn_delete, &txn_read, &compaction, &revoke, &alarm}) {
    EXPECT_TRUE(AlarmGate(nospace, *passes).ok()) << passes->DebugString();
  }
  for (const auto* refused : {&put, &del, &txn_put, &txn_delete, &compaction, &grant, &revoke}) {
    absl::Status s = AlarmGate(corrupt | nospace, *refused);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << refused->DebugString();
    EXPECT_EQ(s.message(), "etcdserver: corrupt cluster");
  }
  EXPECT_TRUE(AlarmGate(corrupt, txn_read).ok());
  EXPECT_TRUE(AlarmGate(corrupt, alarm).ok());
  EXPECT_TRUE(AlarmGate(0, put).ok());
  EXPECT_TRUE(AlarmGate(AlarmBit(etcdserverpb::NONE), put).ok());
}

TEST(AlarmStatusTextTest, IsEtcdsText) {
  etcdserverpb::AlarmMember a;
  a.set_memberid(123);
  a.set_alarm(etcdserverpb::NOSPACE);
  EXPECT_EQ(AlarmStatusText(a), "memberID:123 alarm:NOSPACE ");
  a.set_alarm(etcdserverpb::CORRUPT);
  EXPECT_EQ(AlarmStatusText(a), "memberID:123 alarm:CORRUPT ");
  // Zero fields are left out, as in etcd's text: member 0 and alarm NONE (both can be activated).
  a.set_memberid(0);
  EXPECT_EQ(AlarmStatusText(a), "alarm:CORRUPT ");
  a.set_memberid(123);
  a.set_alarm(etcdserverpb::NONE);
  EXPECT_EQ(AlarmStatusText(a), "memberID:123 ");
}

// ---------------------------------------------------------------------------------------------
// Applying a log never depends on the store's size: two stores, one far over its quota, applying
// the same entries in different batches (so different page layouts and free lists) end equal.

absl::StatusOr<std::unique_ptr<mvcc::Store>> OpenStore(const std::string& dir, uint64_t quota) {
  mvcc::StoreOptions options;
  options.dir = dir;
  options.no_sync = true;
  options.quota_bytes = quota;
  return mvcc::Store::Open(options);
}

TEST(QuotaDeterminismTest, SameEntriesGiveTheSameStoreWhateverTheQuota) {
  char tmpl[] = "/tmp/cairn-alarms-determinism-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto small = OpenStore(dir + "/small", 256 << 10);
  auto large = OpenStore(dir + "/large", 64 << 20);
  ASSERT_TRUE(small.ok() && large.ok());
  std::vector<cairnpb::LogRequest> entries;
  for (int i = 0; i < 120; ++i) {
    cairnpb::LogRequest r;
    r.mutable_put()->set_key("key" + std::to_string(i % 40));
    r.mutable_put()->set_value(std::string(4000 + i, static_cast<char>('a' + i % 26)));
    entries.push_back(r);
    if (i % 10 == 9) {
      cairnpb::LogRequest d;
      d.mutable_delete_range()->set_key("key" + std::to_string(i % 7));
      entries.push_back(d);
    }
  }
  cairnpb::LogRequest txn;
  txn.mutable_txn()->add_success()->mutable_request_put()->set_key("txn");
  txn.mutable_txn()->mutable_success(0)->mutable_request_put()->set_value(std::string(9000, 't'));
  entries.push_back(txn);
  cairnpb::LogRequest grant;
  grant.mutable_lease_grant()->set_id(77);
  grant.mutable_lease_grant()->set_ttl(60);
  entries.push_back(grant);

  // The small store: one entry per batch, with a reader pinning old pages now and then.
  uint64_t index = 0;
  for (const auto& e : entries) {
    std::unique_ptr<mvcc::WriteBatch> batch = (*small)->BeginWrite();
    ASSERT_NE(batch, nullptr);
    EXPECT_TRUE(ApplyLogRequest(batch.get(), e, nullptr).ok()) << "entry " << index << " on the small store";
    batch->SetApplied(++index, 1);
    ASSERT_TRUE(batch->Commit().ok());
    if (index % 16 == 0) (void)(*small)->DbSizeInUse();
  }
  // The large store: all in one batch.
  {
    std::unique_ptr<mvcc::WriteBatch> batch = (*large)->BeginWrite();
    for (const auto& e : entries) EXPECT_TRUE(ApplyLogRequest(batch.get(), e, nullptr).ok());
    batch->SetApplied(index, 1);
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_GT((*small)->DbSizeInUse(), 256 << 10) << "[test] the entries should exceed the small quota";
  int64_t rev_small = 0, rev_large = 0, compact = 0;
  auto hash_small = (*small)->HashKV(0, &rev_small, &compact);
  auto hash_large = (*large)->HashKV(0, &rev_large, &compact);
  ASSERT_TRUE(hash_small.ok() && hash_large.ok());
  EXPECT_EQ(rev_small, rev_large);
  EXPECT_EQ(*hash_small, *hash_large);
  // The receiving side's check is where the quota bites.
  etcdserverpb::PutRequest more;
  more.set_key("more");
  more.set_value("x");
  EXPECT_FALSE((*small)->HasRoomFor(more));
  EXPECT_TRUE((*large)->HasRoomFor(more));
  EXPECT_FALSE((*small)->HasRoomForLease());
  small->reset();
  large->reset();
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The write pipeline applies alarm entries, gates writes on them and keeps them across restarts.

class AlarmPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-alarms-pipeline-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Open();
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    auto store = OpenStore(dir_ + "/db", 64 << 20);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(pipeline_.Start(store_.get(), dir_ + "/wal").ok());
  }
  void Close() {
    pipeline_.Stop();
    store_.reset();
  }

  absl::Status Submit(cairnpb::LogRequest request, google::protobuf::Message* response) {
    return pipeline_.Submit(std::move(request), response);
  }
  absl::Status Alarm(AlarmRequest::AlarmAction action, uint64_t member, etcdserverpb::AlarmType type,
                     AlarmResponse* response = nullptr) {
    AlarmResponse scratch;
    cairnpb::LogRequest r;
    *r.mutable_alarm() = Request(action, member, type);
    return Submit(r, response != nullptr ? response : &scratch);
  }
  absl::Status Put(const std::string& key) {
    cairnpb::LogRequest r;
    r.mutable_put()->set_key(key);
    r.mutable_put()->set_value("v");
    etcdserverpb::PutResponse response;
    return Submit(r, &response);
  }
  absl::Status Delete(const std::string& key) {
    cairnpb::LogRequest r;
    r.mutable_delete_range()->set_key(key);
    etcdserverpb::DeleteRangeResponse response;
    return Submit(r, &response);
  }

  std::string dir_;
  std::unique_ptr<mvcc::Store> store_;
  testing::SingleMemberPipeline pipeline_;
};

TEST_F(AlarmPipelineTest, AlarmsGoThroughTheLogGateWritesAndSurviveRestarts) {
  ASSERT_TRUE(Put("before").ok());
  AlarmResponse raised;
  ASSERT_TRUE(Alarm(AlarmRequest::ACTIVATE, 42, etcdserverpb::NOSPACE, &raised).ok());
  EXPECT_EQ(Listed(raised), (Pairs{{42, etcdserverpb::NOSPACE}}));
  EXPECT_TRUE(pipeline_->NoSpaceAlarm());
  EXPECT_TRUE(pipeline_->Alarms().Contains(42, etcdserverpb::NOSPACE));
  // Refused when applied, even though nothing checked before submitting.
  EXPECT_EQ(Put("k"), mvcc::ErrNoSpace());
  EXPECT_TRUE(Delete("before").ok());
  const int64_t revision = store_->CurrentRevision();

  // Stored with the data: a restart (replaying nothing, the store is current) still has it.
  Close();
  Open();
  EXPECT_TRUE(pipeline_->NoSpaceAlarm());
  EXPECT_EQ(Put("k"), mvcc::ErrNoSpace());
  EXPECT_EQ(store_->CurrentRevision(), revision);

  ASSERT_TRUE(Alarm(AlarmRequest::ACTIVATE, 43, etcdserverpb::CORRUPT).ok());
  EXPECT_EQ(Put("k").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Delete("k").message(), "etcdserver: corrupt cluster");

  AlarmResponse disarmed, again;
  ASSERT_TRUE(Alarm(AlarmRequest::DEACTIVATE, 43, etcdserverpb::CORRUPT, &disarmed).ok());
  EXPECT_EQ(Listed(disarmed), (Pairs{{43, etcdserverpb::CORRUPT}}));
  ASSERT_TRUE(Alarm(AlarmRequest::DEACTIVATE, 43, etcdserverpb::CORRUPT, &again).ok());
  EXPECT_TRUE(again.alarms().empty());
  EXPECT_EQ(Put("k"), mvcc::ErrNoSpace());  // NOSPACE still there
  ASSERT_TRUE(Alarm(AlarmRequest::DEACTIVATE, 42, etcdserverpb::NOSPACE).ok());
  EXPECT_EQ(pipeline_->ActiveAlarms(), 0u);
  EXPECT_TRUE(Put("k").ok());
  Close();
  Open();
  EXPECT_TRUE(pipeline_->Alarms().empty());
}

TEST_F(AlarmPipelineTest, AlarmsAreReplayedFromTheLog) {
  // Entries applied from the log (a restart's replay, or another member's proposals) take the same
  // path as a member's own: replaying the log into an empty store rebuilds the same set.
  ASSERT_TRUE(Alarm(AlarmRequest::ACTIVATE, 5, etcdserverpb::CORRUPT).ok());
  ASSERT_TRUE(Alarm(AlarmRequest::ACTIVATE, 6, etcdserverpb::NOSPACE).ok());
  ASSERT_TRUE(Alarm(AlarmRequest::DEACTIVATE, 5, etcdserverpb::CORRUPT).ok());
  ASSERT_TRUE(Put("after").code() == absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(Delete("nothing").ok());  // carries the commit index of the entries above
  // The log as a crash would leave it (a clean stop trims what the store holds).
  std::filesystem::copy(dir_ + "/wal", dir_ + "/wal-copy", std::filesystem::copy_options::recursive);
  Close();
  std::filesystem::remove_all(dir_ + "/db");
  std::filesystem::remove_all(dir_ + "/wal");
  std::filesystem::rename(dir_ + "/wal-copy", dir_ + "/wal");
  Open();
  EXPECT_EQ(pipeline_->Alarms().Get(etcdserverpb::NONE).size(), 1u);
  EXPECT_TRUE(pipeline_->Alarms().Contains(6, etcdserverpb::NOSPACE));
  EXPECT_EQ(Put("k"), mvcc::ErrNoSpace());
  EXPECT_EQ(*store_->Alarms(), pipeline_->Alarms().Encode());
}

// ---------------------------------------------------------------------------------------------
// A member refuses a put over its quota before proposing it and raises its own alarm, once.

class QuotaMemberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(m_.Start({"--quota-backend-bytes", std::to_string(1 << 20)}));
  }

  grpc::Status Put(const std::string& key, size_t value_bytes) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(std::string(value_bytes, 'v'));
    etcdserverpb::PutResponse resp;
    return m_.kv->Put(&ctx, req, &resp);
  }
  etcdserverpb::StatusResponse Status() {
    grpc::ClientContext ctx;
    etcdserverpb::StatusResponse resp;
    EXPECT_TRUE(m_.maintenance->Status(&ctx, etcdserverpb::StatusRequest(), &resp).ok());
    return resp;
  }
  AlarmResponse Alarm(const AlarmRequest& request) {
    grpc::ClientContext ctx;
    AlarmResponse resp;
    grpc::Status s = m_.maintenance->Alarm(&ctx, request, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  testing::InProcessMember m_{"/tmp/cairn-alarms-member-"};
};

TEST_F(QuotaMemberTest, APutOverQuotaIsRefusedBeforeProposingAndRaisesTheAlarmOnce) {
  grpc::Status refused;
  int accepted = 0;
  for (; accepted < 100; ++accepted) {
    refused = Put("fill/" + std::to_string(accepted), 100000);
    if (!refused.ok()) break;
  }
  ASSERT_FALSE(refused.ok()) << "[test] 100 puts of 100 kB fit a 1 MiB quota";
  EXPECT_GT(accepted, 2);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "etcdserver: mvcc: database space exceeded");
  const uint64_t self = m_.member->member_id();
  AlarmRequest get;
  get.set_action(AlarmRequest::GET);
  EXPECT_EQ(Listed(Alarm(get)), (Pairs{{self, etcdserverpb::NOSPACE}}));
  // The refused put never reached the log: the revision is one per accepted put, and the log
  // holds one entry more than before the refusals (the alarm), however many puts are refused.
  const etcdserverpb::StatusResponse after_first = Status();
  EXPECT_EQ(after_first.header().revision(), 1 + accepted);
  for (int i = 0; i < 5; ++i) {
    grpc::Status again = Put("small" + std::to_string(i), 1);
    EXPECT_EQ(again.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  const etcdserverpb::StatusResponse later = Status();
  EXPECT_EQ(later.raftappliedindex(), after_first.raftappliedindex());
  EXPECT_EQ(later.header().revision(), 1 + accepted);
  ASSERT_EQ(later.errors_size(), 1);
  EXPECT_EQ(later.errors(0), "memberID:" + std::to_string(self) + " alarm:NOSPACE ");
  grpc::ClientContext grant_ctx;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(60);
  etcdserverpb::LeaseGrantResponse granted;
  EXPECT_EQ(m_.lease->LeaseGrant(&grant_ctx, grant, &granted).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Freeing space and disarming lets puts through again.
  grpc::ClientContext del_ctx;
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("fill/");
  del.set_range_end("fill0");
  etcdserverpb::DeleteRangeResponse deleted;
  ASSERT_TRUE(m_.kv->DeleteRange(&del_ctx, del, &deleted).ok());
  grpc::ClientContext compact_ctx;
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(deleted.header().revision());
  compact.set_physical(true);
  etcdserverpb::CompactionResponse compacted;
  ASSERT_TRUE(m_.kv->Compact(&compact_ctx, compact, &compacted).ok());
  EXPECT_EQ(Put("small", 1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);  // still alarmed
  AlarmResponse disarmed = Alarm(Request(AlarmRequest::DEACTIVATE, self, etcdserverpb::NOSPACE));
  EXPECT_EQ(Listed(disarmed), (Pairs{{self, etcdserverpb::NOSPACE}}));
  EXPECT_TRUE(Alarm(get).alarms().empty());
  EXPECT_TRUE(Put("small", 1).ok());
  EXPECT_TRUE(Status().errors().empty());
}

}  // namespace
}  // namespace cairn::server
