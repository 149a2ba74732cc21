// Backups: Maintenance.Snapshot from a real in-process member over gRPC, the file's digest, and
// restoring it into a new data dir that a member then serves.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/member.h"
#include "server/restore.h"

namespace cairn::server {
namespace {

namespace fs = std::filesystem;

struct Client {
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  std::unique_ptr<etcdserverpb::Cluster::Stub> cluster;
};

struct Streamed {
  grpc::Status status;
  std::vector<etcdserverpb::SnapshotResponse> responses;
  std::string bytes;  // every blob, in order: the file `snapshot save` writes
};

void WriteWhole(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Sha256(const std::string& bytes) {
  Sha256Digest digest;
  digest.Update(bytes.data(), bytes.size());
  return digest.Finish();
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-snapshot-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    restored_.reset();
    member_.reset();
    fs::remove_all(dir_);
  }

  static std::unique_ptr<Member> Start(const std::vector<std::string>& flags, Client* client) {
    std::vector<std::string> args = {"--listen-client-urls", "http://127.0.0.1:0", "--listen-peer-urls",
                                     "http://127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto config = ParseFlags(args);
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return nullptr;
    auto member = Member::Start(*config);
    EXPECT_TRUE(member.ok()) << member.status();
    if (!member.ok()) return nullptr;
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*member)->client_ports()[0]),
                                       grpc::InsecureChannelCredentials());
    client->kv = etcdserverpb::KV::NewStub(channel);
    client->maintenance = etcdserverpb::Maintenance::NewStub(channel);
    client->cluster = etcdserverpb::Cluster::NewStub(channel);
    return std::move(*member);
  }

  void StartOriginal() {
    member_ = Start({"--name", "old", "--data-dir", dir_ + "/data"}, &client_);
    ASSERT_NE(member_, nullptr);
  }

  // The restored member: "n1", alone in a cluster named by --initial-cluster.
  void StartRestored(const std::string& data_dir) {
    restored_ = Start({"--name", "n1", "--data-dir", data_dir, "--initial-advertise-peer-urls", kPeer,
                       "--initial-cluster", std::string("n1=") + kPeer},
                      &restored_client_);
    ASSERT_NE(restored_, nullptr);
  }

  RestoreOptions Restore(const std::string& file, const std::string& data_dir) const {
    RestoreOptions o;
    o.snapshot_path = file;
    o.data_dir = data_dir;
    o.name = "n1";
    o.initial_cluster = std::string("n1=") + kPeer;
    o.initial_advertise_peer_urls = kPeer;
    return o;
  }

  static int64_t Put(Client& c, const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    auto s = c.kv->Put(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.header().revision();
  }

  static etcdserverpb::RangeResponse Get(Client& c, const std::string& key, const std::string& end = "",
                                         int64_t rev = 0) {
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_revision(rev);
    etcdserverpb::RangeResponse resp;
    auto s = c.kv->Range(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static Streamed Snapshot(Client& c) {
    Streamed out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = c.maintenance->Snapshot(&ctx, etcdserverpb::SnapshotRequest());
    etcdserverpb::SnapshotResponse r;
    while (reader->Read(&r)) {
      out.bytes += r.blob();
      out.responses.push_back(r);
    }
    out.status = reader->Finish();
    return out;
  }

  // Files left in the member's scratch directory for images.
  size_t ScratchFiles() const {
    std::error_code ec;
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_ + "/data/member/snap", ec)) {
      (void)e;
      ++n;
    }
    return n;
  }

  static constexpr char kPeer[] = "http://127.0.0.1:1";  // never dialled: a cluster of one
  std::string dir_;
  std::unique_ptr<Member> member_;
  std::unique_ptr<Member> restored_;
  Client client_;
  Client restored_client_;
};

TEST_F(SnapshotTest, StreamsImageInEtcdSizedChunksEndingWithItsSha256) {
  StartOriginal();
  const std::string value(1000, 'v');
  for (int i = 0; i < 200; ++i) Put(client_, "key/" + std::to_string(i), value);
  Streamed s = Snapshot(client_);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ASSERT_GE(s.responses.size(), 3u);  // ~200 KiB of image: several chunks, then the digest

  const std::string image = s.bytes.substr(0, s.bytes.size() - kSnapshotDigestBytes);
  EXPECT_EQ(image.size() % 512, 0u);
  uint64_t sent = 0;
  for (size_t i = 0; i + 1 < s.responses.size(); ++i) {
    const auto& r = s.responses[i];
    EXPECT_LE(r.blob().size(), 32u * 1024);
    sent += r.blob().size();
    EXPECT_EQ(r.remaining_bytes(), image.size() - sent) << "response " << i;
    EXPECT_FALSE(r.has_header()) << "etcd 3.4 sends snapshot chunks without a header";
  }
  const auto& last = s.responses.back();
  EXPECT_EQ(last.remaining_bytes(), 0u);
  EXPECT_EQ(last.blob(), Sha256(image));
  EXPECT_EQ(ScratchFiles(), 0u);  // the scratch image is gone once the stream ends
}

TEST_F(SnapshotTest, RestoredDataDirServesSameKeysRevisionsAndHistoryUnderANewCluster) {
  StartOriginal();
  Put(client_, "a", "1");
  Put(client_, "b", "1");
  Put(client_, "a", "2");
  {
    grpc::ClientContext ctx;
    etcdserverpb::DeleteRangeRequest del;
    del.set_key("b");
    etcdserverpb::DeleteRangeResponse resp;
    ASSERT_TRUE(client_.kv->DeleteRange(&ctx, del, &resp).ok());
  }
  const int64_t c_rev = Put(client_, "c", "3");
  const etcdserverpb::RangeResponse before = Get(client_, std::string(1, '\0'), std::string(1, '\0'));
  ASSERT_EQ(before.header().revision(), c_rev);
  {
    // An alarm of the old cluster names one of its members: the restore drops it (else the
    // restored cluster would refuse writes for a member it does not have).
    grpc::ClientContext ctx;
    etcdserverpb::AlarmRequest req;
    req.set_action(etcdserverpb::AlarmRequest::ACTIVATE);
    req.set_memberid(member_->member_id());
    req.set_alarm(etcdserverpb::CORRUPT);
    etcdserverpb::AlarmResponse resp;
    ASSERT_TRUE(client_.maintenance->Alarm(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.alarms_size(), 1);
  }
  Streamed s = Snapshot(client_);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  const std::string file = dir_ + "/backup.db";
  WriteWhole(file, s.bytes);

  // `snapshot status` reports what `endpoint hashkv` reports for the same revision.
  auto status = ReadSnapshotStatus(file);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, c_rev);
  EXPECT_EQ(status->total_keys, 2);
  EXPECT_EQ(status->total_size, static_cast<int64_t>(s.bytes.size() - kSnapshotDigestBytes));
  {
    grpc::ClientContext ctx;
    etcdserverpb::HashKVRequest req;
    etcdserverpb::HashKVResponse resp;
    ASSERT_TRUE(client_.maintenance->HashKV(&ctx, req, &resp).ok());
    EXPECT_EQ(status->hash, resp.hash());
  }
  const uint64_t old_cluster = before.header().cluster_id();
  member_.reset();

  const std::string restored = dir_ + "/restored";
  ASSERT_TRUE(RestoreSnapshot(Restore(file, restored)).ok());
  StartRestored(restored);
  const etcdserverpb::RangeResponse after = Get(restored_client_, std::string(1, '\0'), std::string(1, '\0'));
  EXPECT_EQ(after.header().revision(), c_rev);
  ASSERT_EQ(after.kvs_size(), before.kvs_size());
  for (int i = 0; i < after.kvs_size(); ++i) {
    EXPECT_EQ(after.kvs(i).SerializeAsString(), before.kvs(i).SerializeAsString()) << after.kvs(i).key();
  }
  EXPECT_EQ(Get(restored_client_, "b").kvs_size(), 0);  // deleted before the snapshot: still gone
  const auto old_b = Get(restored_client_, "b", "", c_rev - 2);  // history is kept
  ASSERT_EQ(old_b.kvs_size(), 1);
  EXPECT_EQ(old_b.kvs(0).value(), "1");
  EXPECT_NE(after.header().cluster_id(), old_cluster);

  // The membership is the restore's, not the old cluster's.
  grpc::ClientContext ctx;
  etcdserverpb::MemberListResponse members;
  ASSERT_TRUE(restored_client_.cluster->MemberList(&ctx, etcdserverpb::MemberListRequest(), &members).ok());
  ASSERT_EQ(members.members_size(), 1);
  EXPECT_EQ(members.members(0).name(), "n1");
  EXPECT_EQ(members.members(0).peerurls(0), kPeer);
  EXPECT_EQ(members.members(0).id(), restored_->member_id());

  // No alarm came along, and it takes writes, after the restored revision.
  {
    grpc::ClientContext alarm_ctx;
    etcdserverpb::AlarmRequest get;
    get.set_action(etcdserverpb::AlarmRequest::GET);
    etcdserverpb::AlarmResponse alarms;
    ASSERT_TRUE(restored_client_.maintenance->Alarm(&alarm_ctx, get, &alarms).ok());
    EXPECT_EQ(alarms.alarms_size(), 0);
  }
  EXPECT_EQ(Put(restored_client_, "d", "4"), c_rev + 1);
}

TEST_F(SnapshotTest, RestoreRefusesCorruptOrUndigestedFilesAndUsedDataDirs) {
  StartOriginal();
  Put(client_, "a", "1");
  Streamed s = Snapshot(client_);
  ASSERT_TRUE(s.status.ok());
  member_.reset();

  std::string corrupt = s.bytes;
  corrupt[corrupt.size() / 2] ^= 0x01;
  WriteWhole(dir_ + "/corrupt.db", corrupt);
  absl::Status refused = RestoreSnapshot(Restore(dir_ + "/corrupt.db", dir_ + "/r1"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss) << refused;
  EXPECT_NE(refused.message().find("sha256"), absl::string_view::npos) << refused;
  EXPECT_FALSE(fs::exists(dir_ + "/r1"));  // nothing half-made is left behind
  EXPECT_FALSE(ReadSnapshotStatus(dir_ + "/corrupt.db").ok());

  const std::string bare = s.bytes.substr(0, s.bytes.size() - kSnapshotDigestBytes);
  WriteWhole(dir_ + "/bare.db", bare);
  refused = RestoreSnapshot(Restore(dir_ + "/bare.db", dir_ + "/r2"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("--skip-hash-check"), absl::string_view::npos) << refused;
  RestoreOptions skip = Restore(dir_ + "/bare.db", dir_ + "/r2");
  skip.skip_hash_check = true;
  EXPECT_TRUE(RestoreSnapshot(skip).ok());

  WriteWhole(dir_ + "/good.db", s.bytes);
  refused = RestoreSnapshot(Restore(dir_ + "/good.db", dir_ + "/r2"));  // r2 now holds a data dir
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("not empty"), absl::string_view::npos) << refused;

  RestoreOptions stranger = Restore(dir_ + "/good.db", dir_ + "/r3");
  stranger.initial_cluster = "someone=http://127.0.0.1:2";
  EXPECT_EQ(RestoreSnapshot(stranger).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/r3"));
}

TEST_F(SnapshotTest, ClientThatGoesAwayMidStreamLeavesNoFileAndServerStopsCleanly) {
  StartOriginal();
  const std::string value(4000, 'x');
  for (int i = 0; i < 100; ++i) Put(client_, "big/" + std::to_string(i), value);
  {
    grpc::ClientContext ctx;
    auto reader = client_.maintenance->Snapshot(&ctx, etcdserverpb::SnapshotRequest());
    etcdserverpb::SnapshotResponse first;
    ASSERT_TRUE(reader->Read(&first));
    EXPECT_GT(first.remaining_bytes(), 0u);
    ctx.TryCancel();
    while (reader->Read(&first)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ScratchFiles() != 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ScratchFiles(), 0u);
  // Another snapshot still works, and a stream abandoned without cancelling does not hold up stop.
  EXPECT_TRUE(Snapshot(client_).status.ok());
  grpc::ClientContext abandoned;
  auto reader = client_.maintenance->Snapshot(&abandoned, etcdserverpb::SnapshotRequest());
  etcdserverpb::SnapshotResponse first;
  ASSERT_TRUE(reader->Read(&first));
  member_.reset();  // bounded by the server's shutdown grace; the test's timeout catches a hang
  abandoned.TryCancel();
}

TEST_F(SnapshotTest, ScratchImagesLeftByAKilledProcessAreRemovedAtStart) {
  StartOriginal();
  member_.reset();
  const std::string snap = dir_ + "/data/member/snap/";
  WriteWhole(snap + "client-snapshot-123-0.db.tmp", "half a copy");
  WriteWhole(snap + "other-image", "not ours");
  StartOriginal();
  EXPECT_FALSE(fs::exists(snap + "client-snapshot-123-0.db.tmp"));
  EXPECT_TRUE(fs::exists(snap + "other-image"));
}

TEST_F(SnapshotTest, SnapshotTakenDuringWritesIsAConsistentPointInTheLog) {
  StartOriginal();
  const int64_t base = Put(client_, "w/start", "");
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    // One key per revision, in order: a consistent image at revision R holds exactly w/0..w/(R-base-1).
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      char key[32];
      std::snprintf(key, sizeof(key), "w/%08d", i);
      if (Put(client_, key, std::string(200, 'p')) == 0) break;
      written.store(i + 1);
    }
  });
  while (written.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Streamed s = Snapshot(client_);
  const int during = written.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop.store(true);
  writer.join();
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  const std::string file = dir_ + "/during.db";
  WriteWhole(file, s.bytes);
  member_.reset();

  ASSERT_TRUE(RestoreSnapshot(Restore(file, dir_ + "/restored")).ok());
  StartRestored(dir_ + "/restored");
  const etcdserverpb::RangeResponse all = Get(restored_client_, "w/0", "w/:");
  const int64_t rev = all.header().revision();
  EXPECT_GE(rev - base, 200);
  EXPECT_LE(rev - base, during + 1);  // taken while the writer ran, not after it stopped
  ASSERT_EQ(all.count(), rev - base);
  for (int i = 0; i < all.kvs_size(); ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "w/%08d", i);
    ASSERT_EQ(all.kvs(i).key(), key);
    EXPECT_EQ(all.kvs(i).mod_revision(), base + 1 + i);
  }
}

}  // namespace
}  // namespace cairn::server
