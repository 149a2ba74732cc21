// Opening a format-2 store converts it to format 3; it must then answer exactly as the format-2
// code did (testdata/README.md says how the fixture was made).
#include <lmdb.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include "tests/mvcc/store_fixture.h"
#include "tests/mvcc/testdata/format2_queries.h"

namespace cairn::mvcc::testing {
namespace {

const std::string kTestdata = CAIRN_MVCC_TESTDATA;

struct Expected {
  std::string phase, query, answer;
};

std::vector<Expected> LoadAnswers() {
  std::vector<Expected> out;
  std::ifstream in(kTestdata + "/format2_answers.txt");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    out.push_back(Expected{line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

// The meta "format" record and whether the named tables exist, read with LMDB directly.
struct RawLook {
  std::string format;
  bool has_history = false, has_revisions = false, has_versions = false, has_deleted = false;
};

RawLook LookAt(const std::string& dir) {
  RawLook look;
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 16);
  EXPECT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644), 0);
  MDB_txn* txn = nullptr;
  EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  MDB_dbi dbi;
  if (mdb_dbi_open(txn, "meta", 0, &dbi) == 0) {
    MDB_val k{6, const_cast<char*>("format")}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0) look.format.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  }
  look.has_history = mdb_dbi_open(txn, "history", 0, &dbi) == 0;
  look.has_revisions = mdb_dbi_open(txn, "revisions", 0, &dbi) == 0;
  look.has_versions = mdb_dbi_open(txn, "versions", 0, &dbi) == 0;
  look.has_deleted = mdb_dbi_open(txn, "deleted", 0, &dbi) == 0;
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return look;
}

class UpgradeTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    store_.reset();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    gzFile in = gzopen((kTestdata + "/format2.mdb.gz").c_str(), "rb");
    ASSERT_NE(in, nullptr);
    std::ofstream out(dir_ + "/data.mdb", std::ios::binary);
    char buf[8192];
    int n;
    while ((n = gzread(in, buf, sizeof buf)) > 0) out.write(buf, n);
    gzclose(in);
    out.close();
    ASSERT_EQ(n, 0);
  }

  void ExpectAnswers(const std::string& phase) {
    int checked = 0;
    for (const Expected& e : LoadAnswers()) {
      if (e.phase != phase) continue;
      EXPECT_EQ(format2_fixture::Answer(*store_, e.query), e.answer) << phase << ": " << e.query;
      ++checked;
    }
    EXPECT_GT(checked, 40) << phase;
  }
};

TEST_F(UpgradeTest, FormatTwoStoreIsConvertedAndAnswersAsBefore) {
  const RawLook before = LookAt(dir_);
  ASSERT_EQ(before.format, "cairn-mvcc-2");
  ASSERT_TRUE(before.has_history && before.has_revisions && !before.has_versions);

  Reopen();
  EXPECT_EQ(store_->ConvertedOnOpen(), "cairn-mvcc-2");  // cairnd says so in its log
  EXPECT_EQ(store_->CurrentRevision(), 18);
  EXPECT_EQ(store_->CompactedRevision(), 11);
  EXPECT_EQ(store_->AppliedIndex(), 111u);
  EXPECT_EQ(store_->AppliedTerm(), 3u);
  EXPECT_TRUE(store_->CompactionPending());  // the cursor carried over mid-way
  ExpectAnswers("pending");

  store_.reset();
  const RawLook after = LookAt(dir_);
  EXPECT_EQ(after.format, "cairn-mvcc-3");
  EXPECT_FALSE(after.has_history);
  EXPECT_FALSE(after.has_revisions);
  EXPECT_TRUE(after.has_versions && after.has_deleted);

  Reopen();  // already format 3: opens as is
  EXPECT_EQ(store_->ConvertedOnOpen(), "");
  ExpectAnswers("pending");
  FinishCompaction();
  ExpectAnswers("done");
}

TEST_F(UpgradeTest, ConvertedChainsKeepWorkingForNewWrites) {
  Reopen();
  FinishCompaction();
  Put("e", "e2");  // 19: re-created over the converted deletion marker at 18
  Put("a", "a5");  // 20: links to a@13, whose own link (the marker at 11) is still there
  Delete("c");     // 21
  EXPECT_EQ(Get("e", "", 18).count(), 0);
  EXPECT_EQ(Get("e", "", 17).kvs(0).value(), "e1");
  EXPECT_EQ(Get("e").kvs(0).create_revision(), 19);
  EXPECT_EQ(Get("a", "", 19).kvs(0).value(), "a4");
  EXPECT_EQ(Get("a", "", 11).count(), 0);
  EXPECT_EQ(Get("c", "", 20).kvs(0).value(), "c2");
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(store_->ReadEvents("a", "", 20, 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].prev_kv().value(), "a4");
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->LeaseKeys(7, &keys).ok());
  EXPECT_TRUE(keys.empty());  // c's delete detached it

  int64_t hash_rev = 0, compact_rev = 0;
  auto logical = store_->HashKV(0, &hash_rev, &compact_rev);
  ASSERT_TRUE(logical.ok());
  ASSERT_TRUE(Compact(20).ok());
  auto accepted = store_->HashKV(0, &hash_rev, &compact_rev);
  FinishCompaction();
  auto physical = store_->HashKV(0, &hash_rev, &compact_rev);
  ASSERT_TRUE(accepted.ok() && physical.ok());
  EXPECT_EQ(*accepted, *physical);
  EXPECT_NE(*logical, *accepted);
  EXPECT_EQ(Get("a", "", 20).kvs(0).value(), "a5");
  EXPECT_EQ(Get("e", "", 20).kvs(0).value(), "e2");
}

TEST_F(UpgradeTest, FormatTwoImageIsConvertedAsItIsInstalled) {
  // The fixture's data.mdb is also what CopyTo wrote in format 2: a store image (raft snapshot).
  const std::string image = dir_ + "/data.mdb";
  uint64_t index = 0, term = 0;
  ASSERT_TRUE(Store::ReadImagePoint(image, &index, &term).ok());
  EXPECT_EQ(index, 111u);
  EXPECT_EQ(term, 3u);

  std::string tmpl = (std::filesystem::temp_directory_path() / "mvcc_test.XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string image_dir = dir_;
  dir_ = tmpl;  // the fixture's store lives here from now on (TearDown removes it)
  Reopen();
  Put("x", "replaced by the image");
  ASSERT_TRUE(store_->ReplaceContentsFrom(image).ok());
  EXPECT_EQ(store_->CurrentRevision(), 18);
  EXPECT_EQ(store_->AppliedIndex(), 111u);
  EXPECT_TRUE(store_->CompactionPending());
  ExpectAnswers("pending");
  Reopen();
  FinishCompaction();
  ExpectAnswers("done");
  EXPECT_EQ(LookAt(image_dir).format, "cairn-mvcc-2");  // the image itself is left as it was
  std::filesystem::remove_all(image_dir);
}

TEST_F(UpgradeTest, UnknownFormatsAreStillRefused) {
  WriteFormatMarker(dir_, "cairn-mvcc-1");
  StoreOptions options;
  options.dir = dir_;
  auto opened = Store::Open(options);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LookAt(dir_).format, "cairn-mvcc-1");
}

}  // namespace
}  // namespace cairn::mvcc::testing
