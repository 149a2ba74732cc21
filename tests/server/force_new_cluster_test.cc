// --force-new-cluster's log surgery: the membership changes that leave one member alone
// (server/force_new_cluster.h), the removed-member record (server/membership.h), and the write
// pipeline recovering a member of a three-member cluster that lost its quorum: it keeps what was
// committed, drops what was not, leads alone at once, and stays alone across restarts.
#include "server/force_new_cluster.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/membership.h"
#include "server/raft_log.h"
#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

cairnpb::MemberRecord Record(uint64_t id, const std::string& name) {
  cairnpb::MemberRecord m;
  m.set_id(id);
  m.set_name(name);
  m.add_peer_urls("http://127.0.0.1:" + std::to_string(1000 + id));
  return m;
}

cairnpb::Membership Apply(cairnpb::Membership membership, const std::vector<cairnpb::Entry>& entries) {
  for (const cairnpb::Entry& e : entries) {
    cairnpb::ConfChange change;
    EXPECT_TRUE(change.ParseFromString(e.data()));
    ApplyConfChangeToMembership(change, &membership);
  }
  return membership;
}

cairnpb::Membership ThreeVotersAndALearner() {
  cairnpb::Membership m;
  for (uint64_t id : {1, 2, 3}) {
    cairnpb::ConfChange add;
    add.set_type(cairnpb::CONF_CHANGE_ADD_NODE);
    add.set_node_id(id);
    Record(id, "m" + std::to_string(id)).SerializeToString(add.mutable_context());
    ApplyConfChangeToMembership(add, &m);
  }
  cairnpb::ConfChange learner;
  learner.set_type(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE);
  learner.set_node_id(4);
  ApplyConfChangeToMembership(learner, &m);
  return m;
}

std::vector<uint64_t> Ids(const google::protobuf::RepeatedField<uint64_t>& ids) { return {ids.begin(), ids.end()}; }

TEST(StandaloneEntries, RemoveEveryOtherVoterAndLearnerAsCommittedEntriesAfterTheCommitIndex) {
  const auto entries = StandaloneEntries(ThreeVotersAndALearner(), Record(2, "m2"), 40, 7);
  ASSERT_EQ(entries.size(), 3u);
  std::vector<uint64_t> removed;
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].index(), 41 + i);
    EXPECT_EQ(entries[i].term(), 7u);
    EXPECT_EQ(entries[i].type(), cairnpb::ENTRY_CONF_CHANGE);
    cairnpb::ConfChange change;
    ASSERT_TRUE(change.ParseFromString(entries[i].data()));
    EXPECT_EQ(change.type(), cairnpb::CONF_CHANGE_REMOVE_NODE);
    removed.push_back(change.node_id());
  }
  EXPECT_EQ(removed, (std::vector<uint64_t>{1, 3, 4}));

  const cairnpb::Membership after = Apply(ThreeVotersAndALearner(), entries);
  EXPECT_EQ(Ids(after.conf_state().voters()), std::vector<uint64_t>{2});
  EXPECT_TRUE(after.conf_state().learners().empty());
  ASSERT_EQ(after.members_size(), 1);
  EXPECT_EQ(after.members(0).name(), "m2");
  EXPECT_EQ(Ids(after.removed_ids()), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_NE(DescribeStandaloneEntries(entries).find("removes members 1,3,4"), std::string::npos);
}

TEST(StandaloneEntries, ALearnerIsPromotedBeforeTheOthersAreRemoved) {
  const auto entries = StandaloneEntries(ThreeVotersAndALearner(), Record(4, "m4"), 9, 2);
  ASSERT_EQ(entries.size(), 4u);
  cairnpb::ConfChange first;
  ASSERT_TRUE(first.ParseFromString(entries[0].data()));
  EXPECT_EQ(first.type(), cairnpb::CONF_CHANGE_ADD_NODE);
  EXPECT_EQ(first.node_id(), 4u);
  const cairnpb::Membership after = Apply(ThreeVotersAndALearner(), entries);
  EXPECT_EQ(Ids(after.conf_state().voters()), std::vector<uint64_t>{4});
  ASSERT_EQ(after.members_size(), 1);
  EXPECT_FALSE(after.members(0).is_learner());
  EXPECT_EQ(after.members(0).name(), "m4");  // from the change's context
}

TEST(StandaloneEntries, NothingToDoForAMemberAlreadyAlone) {
  const cairnpb::Membership alone = Apply(ThreeVotersAndALearner(),
                                          StandaloneEntries(ThreeVotersAndALearner(), Record(1, "m1"), 5, 1));
  EXPECT_TRUE(StandaloneEntries(alone, Record(1, "m1"), 8, 1).empty());
}

TEST(RemovedMembers, ARemovedIdIsRecordedOnceAndForgottenWhenAddedAgain) {
  cairnpb::Membership m = ThreeVotersAndALearner();
  EXPECT_FALSE(WasRemoved(m, 3));
  cairnpb::ConfChange remove;
  remove.set_type(cairnpb::CONF_CHANGE_REMOVE_NODE);
  remove.set_node_id(3);
  ApplyConfChangeToMembership(remove, &m);
  ApplyConfChangeToMembership(remove, &m);
  EXPECT_TRUE(WasRemoved(m, 3));
  EXPECT_EQ(m.removed_ids_size(), 1);
  cairnpb::ConfChange add;
  add.set_type(cairnpb::CONF_CHANGE_ADD_NODE);
  add.set_node_id(3);
  ApplyConfChangeToMembership(add, &m);
  EXPECT_FALSE(WasRemoved(m, 3));
}

// ---------------------------------------------------------------------------------------------
// The pipeline of member 1 of {1, 2, 3}, restarted on a log that holds committed puts "a" and "b"
// and an uncommitted put "c" (members 2 and 3 are gone for good).

cairnpb::Entry PutEntry(uint64_t index, uint64_t term, const std::string& key) {
  cairnpb::LogRequest put;
  put.mutable_put()->set_key(key);
  put.mutable_put()->set_value("v-" + key);
  cairnpb::Entry e;
  e.set_type(cairnpb::ENTRY_NORMAL);
  e.set_index(index);
  e.set_term(term);
  put.SerializeToString(e.mutable_data());
  return e;
}

class ForceNewClusterPipelineTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSelf = 1;

  void SetUp() override {
    char tmpl[] = "/tmp/cairn-force-new-cluster-XXXXXX";
    dir_ = mkdtemp(tmpl);
    founders_ = {Record(1, "m1"), Record(2, "m2"), Record(3, "m3")};
    // The log a member of the three-member cluster leaves behind: the founding entries, two puts
    // committed by a quorum, and a third put that never was.
    auto founding = RecoverLog({}, StorePoint{}, founders_);
    ASSERT_TRUE(founding.ok()) << founding.status();
    std::vector<cairnpb::Entry> entries = founding->entries;
    const uint64_t n = entries.size();
    entries.push_back(PutEntry(n + 1, 2, "a"));
    entries.push_back(PutEntry(n + 2, 2, "b"));
    entries.push_back(PutEntry(n + 3, 2, "c"));
    committed_ = n + 2;
    cairnpb::HardState hs;
    hs.set_term(2);
    hs.set_vote(2);
    hs.set_commit(committed_);
    std::vector<wal::Record> records;
    for (const auto& e : entries) records.push_back(EntryToRecord(e));
    records.push_back(HardStateToRecord(hs));
    std::vector<wal::Record> none;
    auto wal = wal::Wal::Open(WalOptions(), &none);
    ASSERT_TRUE(wal.ok()) << wal.status();
    ASSERT_TRUE((*wal)->Write(records).ok());
    ASSERT_TRUE((*wal)->Sync().ok());
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }

  wal::WalOptions WalOptions() const {
    wal::WalOptions wo;
    wo.dir = dir_ + "/wal";
    wo.segment_bytes = 1 << 20;
    return wo;
  }

  absl::Status Open(bool force) {
    mvcc::StoreOptions so;
    so.dir = dir_ + "/db";
    so.quota_bytes = 64 << 20;
    auto store = mvcc::Store::Open(so);
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
    std::vector<wal::Record> records;
    auto wal = wal::Wal::Open(WalOptions(), &records);
    if (!wal.ok()) return wal.status();
    wal_ = std::move(*wal);
    WritePipeline::Options po;
    po.header.member_id = kSelf;
    po.header.cluster_id = 77;
    po.tick = std::chrono::milliseconds(10);
    po.founders = founders_;
    po.self = Record(kSelf, "m1");
    po.force_new_cluster = force;
    pipeline_ = std::make_unique<WritePipeline>(wal_.get(), store_.get(), po);
    if (auto s = pipeline_->Recover(records); !s.ok()) return s;
    pipeline_->Start();
    return absl::OkStatus();
  }
  void Close() {
    pipeline_.reset();
    wal_.reset();
    store_.reset();
  }

  bool Has(const std::string& key) {
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    etcdserverpb::RangeResponse response;
    EXPECT_TRUE(store_->Range(request, &response).ok());
    return response.kvs_size() == 1;
  }
  absl::Status Put(const std::string& key) {
    cairnpb::LogRequest request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value("v");
    etcdserverpb::PutResponse response;
    return pipeline_->ProposeAndWait(std::move(request), &response);
  }
  void ExpectAlone() {
    const cairnpb::Membership m = pipeline_->Membership();
    EXPECT_EQ(Ids(m.conf_state().voters()), std::vector<uint64_t>{kSelf});
    ASSERT_EQ(m.members_size(), 1);
    EXPECT_EQ(m.members(0).name(), "m1");
    EXPECT_EQ(Ids(m.removed_ids()), (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(pipeline_->Leader(), kSelf);  // a single voter leads by the time Start returns
  }

  std::string dir_;
  std::vector<cairnpb::MemberRecord> founders_;
  uint64_t committed_ = 0;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<WritePipeline> pipeline_;
};

TEST_F(ForceNewClusterPipelineTest, WithoutTheFlagTheSurvivorHasNoLeader) {
  ASSERT_TRUE(Open(false).ok());
  EXPECT_EQ(pipeline_->Leader(), 0u);
  EXPECT_EQ(Voters(pipeline_->Membership()).size(), 3u);
}

TEST_F(ForceNewClusterPipelineTest, KeepsTheCommittedDataDropsTheRestAndLeadsAlone) {
  ASSERT_TRUE(Open(true).ok());
  ExpectAlone();
  EXPECT_TRUE(Has("a"));
  EXPECT_TRUE(Has("b"));
  EXPECT_FALSE(Has("c"));  // never committed: dropped, as etcd does
  EXPECT_TRUE(Put("d").ok());
  EXPECT_TRUE(Has("d"));
  EXPECT_GT(pipeline_->CommitIndex(), committed_ + 2);  // two removals, the election's no-op, d
}

TEST_F(ForceNewClusterPipelineTest, RestartsWithOrWithoutTheFlagStayAlone) {
  ASSERT_TRUE(Open(true).ok());
  ASSERT_TRUE(Put("d").ok());
  Close();
  // Without the flag: the forced changes were logged as committed, so the log and store agree.
  ASSERT_TRUE(Open(false).ok());
  ExpectAlone();
  EXPECT_TRUE(Has("a") && Has("b") && Has("d"));
  EXPECT_FALSE(Has("c"));
  ASSERT_TRUE(Put("e").ok());
  Close();
  // With the flag again: nothing to change.
  ASSERT_TRUE(Open(true).ok());
  ExpectAlone();
  EXPECT_TRUE(Has("d") && Has("e"));
  EXPECT_TRUE(Put("f").ok());
}

TEST_F(ForceNewClusterPipelineTest, SurvivesACrashBeforeTheStoreIsSynced) {
  // The store commits without fsync; what the forced start wrote must be in the WAL. Dropping the
  // store entirely (as if none of it reached the disk) and replaying the WAL gives the same result.
  ASSERT_TRUE(Open(true).ok());
  Close();
  std::filesystem::remove_all(dir_ + "/db");
  ASSERT_TRUE(Open(false).ok());
  ExpectAlone();
  EXPECT_TRUE(Has("a") && Has("b"));
  EXPECT_FALSE(Has("c"));
}

TEST_F(ForceNewClusterPipelineTest, MessagesFromRemovedMembersAreIgnored) {
  ASSERT_TRUE(Open(true).ok());
  const uint64_t term = pipeline_->Term();
  // An old member back on its old data, leading its old configuration at a higher term: without
  // the filter this member would follow it (and take its log).
  cairnpb::Message append;
  append.set_type(cairnpb::MSG_APPEND);
  append.set_from(2);
  append.set_to(kSelf);
  append.set_term(term + 5);
  append.set_index(committed_);
  append.set_log_term(2);
  append.set_commit(committed_);
  pipeline_->Step(append);
  // The message was queued before the write, so the round that applied the write had stepped it.
  ASSERT_TRUE(Put("after").ok());
  EXPECT_EQ(pipeline_->Term(), term);
  EXPECT_EQ(pipeline_->Leader(), kSelf);
}

TEST_F(ForceNewClusterPipelineTest, RefusesADataDirectoryWithoutMembership) {
  Close();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  founders_.clear();  // a member that joined an existing cluster and never received its log
  EXPECT_EQ(Open(true).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cairn::server
