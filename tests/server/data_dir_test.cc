// DataDir with the log in its default place or in a directory of its own (--wal-dir): a store must
// never start without the log it was written with, the log directory belongs to one member and one
// process, and moving the log directory while stopped works.
#include "server/data_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "raft/wal/wal.h"

namespace cairn::server {
namespace {

namespace fs = std::filesystem;

constexpr DataDir::Identity kMember{0x1111, 0xc1};
constexpr DataDir::Identity kOtherMember{0x2222, 0xc2};

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cairn-data-dir-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& data_dir, const std::string& wal_dir,
                                                       DataDir::Identity identity = kMember) {
    return DataDir::Open(data_dir, wal_dir, [identity]() -> absl::StatusOr<DataDir::Identity> { return identity; });
  }

  // What a member's first start leaves: a store directory and a log holding one record.
  static void WriteStoreAndLog(const DataDir& dir, const std::string& payload) {
    fs::create_directories(dir.DbDir());
    wal::WalOptions options;
    options.dir = dir.WalDir();
    auto log = wal::Wal::Open(options, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    wal::Record record;
    record.index = 1;
    record.term = 1;
    record.payload = payload;
    ASSERT_TRUE((*log)->Append({record}).ok());
  }

  static std::vector<std::string> Payloads(const std::string& wal_dir) {
    wal::WalOptions options;
    options.dir = wal_dir;
    std::vector<wal::Record> replay;
    auto log = wal::Wal::Open(options, &replay);
    EXPECT_TRUE(log.ok()) << log.status();
    std::vector<std::string> out;
    for (const wal::Record& r : replay) out.push_back(r.payload);
    return out;
  }

  static std::string Message(const absl::Status& s) { return std::string(s.message()); }

  std::string root_;
};

TEST_F(DataDirTest, LogStaysUnderMemberWalWithoutWalDir) {
  const std::string data = root_ + "/data";
  auto dir = Open(data, "");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ((*dir)->WalDir(), data + "/member/wal");
  EXPECT_TRUE(fs::exists(data + "/member/wal/cairn-wal-owner"));
  // Naming the default place explicitly is the same thing.
  dir->reset();
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, ""), "x"));
  auto again = Open(data, data + "/member/./wal");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->WalDir(), data + "/member/wal");
}

TEST_F(DataDirTest, WalDirHoldsTheLogAndTheDataDirHasNone) {
  const std::string data = root_ + "/data", wal = root_ + "/disk2/wal";
  {
    auto dir = Open(data, wal);
    ASSERT_TRUE(dir.ok()) << dir.status();
    EXPECT_EQ((*dir)->WalDir(), wal);
    ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**dir, "put a"));
  }
  EXPECT_FALSE(fs::exists(data + "/member/wal"));
  EXPECT_TRUE(fs::exists(wal + "/cairn-wal-owner"));
  auto dir = Open(data, wal);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(Payloads((*dir)->WalDir()), std::vector<std::string>{"put a"});
}

TEST_F(DataDirTest, StoreStartedWithoutTheWalDirItWasWrittenWithIsRefused) {
  const std::string data = root_ + "/data", wal = root_ + "/wal";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, wal), "put a"));

  auto forgot = Open(data, "");
  ASSERT_FALSE(forgot.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(forgot.status()));
  EXPECT_NE(Message(forgot.status()).find("--wal-dir"), std::string::npos) << forgot.status();
  EXPECT_NE(Message(forgot.status()).find(data + " holds a store"), std::string::npos) << forgot.status();

  auto another = Open(data, root_ + "/empty-wal");
  ASSERT_FALSE(another.ok());
  EXPECT_NE(Message(another.status()).find("--wal-dir " + root_ + "/empty-wal holds no log"), std::string::npos)
      << another.status();
  EXPECT_FALSE(fs::exists(root_ + "/empty-wal"));  // nothing created for a refused start
  // The log is untouched and the right flag still works.
  EXPECT_EQ(Payloads(wal), std::vector<std::string>{"put a"});
  EXPECT_TRUE(Open(data, wal).ok());
}

TEST_F(DataDirTest, WalDirGivenWhileTheLogIsStillInTheDataDirIsRefused) {
  const std::string data = root_ + "/data", wal = root_ + "/wal";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, ""), "put a"));

  auto added = Open(data, wal);
  ASSERT_FALSE(added.ok());
  EXPECT_NE(Message(added.status()).find("holds its log in " + data + "/member/wal but --wal-dir is " + wal),
            std::string::npos)
      << added.status();
  EXPECT_FALSE(fs::exists(wal));

  // A copy (not a move) leaves two logs: refused too, whichever one it names.
  fs::copy(data + "/member/wal", wal, fs::copy_options::recursive);
  EXPECT_FALSE(Open(data, wal).ok());
}

TEST_F(DataDirTest, MovedLogDirectoryWorksWithTheNewFlag) {
  const std::string data = root_ + "/data", wal = root_ + "/wal", moved = root_ + "/other-disk/wal";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, ""), "put a"));

  // Out of the data dir...
  fs::create_directories(root_ + "/other-disk");
  fs::rename(data + "/member/wal", wal);
  auto out = Open(data, wal);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Payloads(wal), std::vector<std::string>{"put a"});
  out->reset();
  // ...to another disk...
  fs::rename(wal, moved);
  auto again = Open(data, moved);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Payloads(moved), std::vector<std::string>{"put a"});
  again->reset();
  // ...and back.
  fs::rename(moved, data + "/member/wal");
  auto back = Open(data, "");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Payloads((*back)->WalDir()), std::vector<std::string>{"put a"});
}

TEST_F(DataDirTest, AnotherMembersLogIsRefused) {
  const std::string wal = root_ + "/wal";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(root_ + "/first", wal, kMember), "first's"));

  auto other = Open(root_ + "/second", wal, kOtherMember);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(Message(other.status()).find("--wal-dir " + wal + " holds the log of member 1111 of cluster c1"),
            std::string::npos)
      << other.status();

  // Same IDs (same flags), but a new data dir: the log is not this store's.
  auto fresh = Open(root_ + "/third", wal, kMember);
  ASSERT_FALSE(fresh.ok());
  EXPECT_NE(Message(fresh.status()).find("already holds a log but data dir " + root_ + "/third is new"),
            std::string::npos)
      << fresh.status();
  EXPECT_EQ(Payloads(wal), std::vector<std::string>{"first's"});
}

TEST_F(DataDirTest, LogDirectoryInUseByAnotherProcessIsRefused) {
  const std::string data = root_ + "/data", wal = root_ + "/wal";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, wal), "put a"));
  wal::WalOptions options;
  options.dir = wal;
  auto open_log = wal::Wal::Open(options, nullptr);  // as a running cairnd holds it
  ASSERT_TRUE(open_log.ok());

  auto second = Open(data, wal);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(Message(second.status()).find("--wal-dir " + wal + " is in use by another cairnd"), std::string::npos)
      << second.status();
  open_log->reset();
  EXPECT_TRUE(Open(data, wal).ok());
}

TEST_F(DataDirTest, WalDirInsideTheDataDirsMemberFolderIsRefused) {
  const std::string data = root_ + "/data";
  for (const std::string& bad : {data, data + "/member", data + "/member/db", data + "/member/snap/x"}) {
    auto dir = Open(data, bad);
    ASSERT_FALSE(dir.ok()) << bad;
    EXPECT_NE(Message(dir.status()).find("--wal-dir " + bad + " is the data dir or inside"), std::string::npos)
        << dir.status();
  }
  // A folder of its own under the data dir's root is fine.
  EXPECT_TRUE(Open(data, data + "/wal").ok());
}

TEST_F(DataDirTest, LogWrittenBeforeOwnerFilesIsAdoptedOnlyInItsDefaultPlace) {
  const std::string data = root_ + "/data";
  ASSERT_NO_FATAL_FAILURE(WriteStoreAndLog(**Open(data, ""), "old"));
  fs::remove(data + "/member/wal/cairn-wal-owner");  // as an older cairnd left it

  auto dir = Open(data, "");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(fs::exists(data + "/member/wal/cairn-wal-owner"));
  dir->reset();

  // Moved elsewhere without its owner file, nothing says whose it is.
  fs::remove(data + "/member/wal/cairn-wal-owner");
  fs::rename(data + "/member/wal", root_ + "/wal");
  auto moved = Open(data, root_ + "/wal");
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(Message(moved.status()).find("without a cairn-wal-owner file"), std::string::npos) << moved.status();
}

}  // namespace
}  // namespace cairn::server
