// WalOptions::direct_sync: the tail of a zero-filled segment is written with O_DIRECT|O_DSYNC. The
// bytes on disk, what replays, and what survives a kill -9 must be exactly as without it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "raft/wal/direct_tail.h"
#include "raft/wal/segment.h"
#include "raft/wal/wal.h"
#include "tests/wal/wal_test_util.h"

namespace cairn::wal {
namespace {

using testing::Entry;
using testing::IndexesOf;
using testing::MustOpen;
using testing::Range;
using testing::ReadFile;
using testing::SegmentFiles;
using testing::TempDir;
using testing::WaitForPrepared;
using testing::WriteFile;

WalOptions Direct(const std::string& dir, uint64_t segment_bytes = 64 << 10) {
  return WalOptions{
      .dir = dir, .segment_bytes = segment_bytes, .sync = true, .zero_fill_segments = true, .direct_sync = true};
}

// Sizes chosen so frames start and end on both sides of 4 KiB block boundaries, fill a block
// exactly, span several blocks, and exceed 64 KiB.
std::vector<Record> RecordsOfManySizes() {
  const size_t sizes[] = {0,    1,    7,    100,  350,  4000, 4079, 4096 - 25, 4096,  1,
                          5000, 8191, 8192, 3,    12000, 70000, 2,  4096 * 3 - 25, 66000, 9};
  std::vector<Record> out;
  uint64_t index = 1;
  for (size_t size : sizes) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (index * 7 + i) % 26);
    out.push_back(Entry(index++, std::move(payload)));
  }
  return out;
}

// Alternates Append() and Write()+Sync() (and Write()s without Sync() in between).
void WriteMixed(Wal* wal, const std::vector<Record>& records) {
  for (size_t i = 0; i < records.size(); ++i) {
    switch (i % 3) {
      case 0: ASSERT_TRUE(wal->Append({records[i]}).ok()); break;
      case 1: ASSERT_TRUE(wal->Write({records[i]}).ok()); break;  // synced with the next one
      case 2:
        ASSERT_TRUE(wal->Write({records[i]}).ok());
        ASSERT_TRUE(wal->Sync().ok());
        break;
    }
  }
  ASSERT_TRUE(wal->Sync().ok());
}

TEST(WalDirectSync, RecordsOfManySizesReplayExactlyAndTheFileMatchesTheBufferedOne) {
  TempDir direct_dir, buffered_dir;
  const std::vector<Record> records = RecordsOfManySizes();
  // One segment big enough for all of them: the layout is then independent of the preparer's timing.
  WalOptions direct = Direct(direct_dir.path(), 1 << 20);
  WalOptions buffered = direct;
  buffered.dir = buffered_dir.path();
  buffered.direct_sync = false;
  for (const WalOptions& options : {direct, buffered}) {
    auto wal = MustOpen(options, nullptr);
    ASSERT_NO_FATAL_FAILURE(WriteMixed(wal.get(), records));
    const WalStats stats = wal->stats();
    EXPECT_EQ(stats.segments_created, 1u);
    EXPECT_EQ(stats.direct_sync_refusals, 0u);
    if (options.direct_sync) {
      EXPECT_GT(stats.direct_syncs, 0u) << "the direct path was not used";
      EXPECT_EQ(stats.direct_syncs, stats.syncs - 1) << "only the header's sync is an fdatasync";
    } else {
      EXPECT_EQ(stats.direct_syncs, 0u);
    }
  }
  ASSERT_EQ(SegmentFiles(direct_dir.path()).size(), 1u);
  const std::string direct_bytes = ReadFile(SegmentFiles(direct_dir.path())[0]);
  EXPECT_EQ(direct_bytes.size(), direct.segment_bytes);
  EXPECT_TRUE(direct_bytes == ReadFile(SegmentFiles(buffered_dir.path())[0])) << "segment files differ";

  std::vector<Record> replay;
  auto wal = MustOpen(direct, &replay);
  EXPECT_EQ(replay, records);
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
}

class SegmentSizes : public ::testing::TestWithParam<uint64_t> {};

// 10000 is not a multiple of 4 KiB: the last partial block of each segment cannot be written
// directly, so the end of every segment goes through the page cache.
INSTANTIATE_TEST_SUITE_P(WalDirectSync, SegmentSizes, ::testing::Values(64 << 10, 10000));

TEST_P(SegmentSizes, RecordsLargerThanTheSegmentAndRollsReplayExactly) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path(), GetParam());
  std::vector<Record> written;
  {
    auto wal = MustOpen(options, nullptr);
    // Whether each roll finds a prepared file depends on timing; replay must not.
    for (int round = 0; round < 3; ++round) {
      std::vector<Record> records = RecordsOfManySizes();
      for (Record& r : records) r.index += written.size();
      ASSERT_NO_FATAL_FAILURE(WriteMixed(wal.get(), records));
      written.insert(written.end(), records.begin(), records.end());
    }
    EXPECT_GT(wal->stats().direct_syncs, 0u);
    EXPECT_GT(wal->stats().segments_created, 3u);
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(replay, written);
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
  ASSERT_TRUE(wal->Append({Entry(written.size() + 1, "after reopen")}).ok());
}

TEST(WalDirectSync, WriteThenSyncIsInTheFileAtOnceAndAfterReopen) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path());
  const std::vector<Record> records = {Entry(1, "one"), Entry(2, std::string(5000, 't')), Entry(3, "three")};
  {
    auto wal = MustOpen(options, nullptr);
    const WalStats before = wal->stats();
    ASSERT_TRUE(wal->Write({records[0], records[1]}).ok());
    ASSERT_TRUE(wal->Write({records[2]}).ok());
    ASSERT_TRUE(wal->Sync().ok());
    ASSERT_TRUE(wal->Sync().ok());  // nothing new: no second write
    const WalStats after = wal->stats();
    EXPECT_EQ(after.syncs, before.syncs + 1);
    EXPECT_EQ(after.direct_syncs, before.direct_syncs + 1);
    // Another reader of the file (through the page cache) sees the records before the Wal closes.
    const std::string bytes = ReadFile(SegmentFiles(tmp.path()).at(0));
    ScannedSegment scanned;
    ASSERT_TRUE(ScanSegment(bytes, "segment", /*is_last=*/true, &scanned).ok());
    EXPECT_EQ(scanned.records, records);
    EXPECT_EQ(scanned.dropped_bytes, 0u);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(replay, records);
}

TEST(WalDirectSync, WriteWithoutSyncReachesTheFileWhenTheWalIsClosed) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path());
  std::vector<Record> records;
  for (uint64_t i = 1; i <= 20; ++i) records.push_back(Entry(i, std::string(300 * i, 'w')));
  {
    auto wal = MustOpen(options, nullptr);
    for (const Record& r : records) ASSERT_TRUE(wal->Write({r}).ok());
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(replay, records);
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
}

TEST(WalDirectSync, ConcurrentAppendsAreAllPresentAndShareSyncs) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path(), 256 << 10);
  constexpr int kThreads = 8;
  constexpr int kAppends = 100;
  {
    auto wal = MustOpen(options, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kAppends; ++i) {
          ASSERT_TRUE(wal->Append({Entry(0, absl::StrCat(t, ":", i, ":", std::string(100 + i * 13, 'c')))}).ok());
        }
      });
    }
    for (std::thread& th : threads) th.join();
    const WalStats stats = wal->stats();
    EXPECT_LT(stats.syncs, stats.appends);
    EXPECT_GT(stats.direct_syncs, 0u);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  ASSERT_EQ(replay.size(), size_t{kThreads * kAppends});
  std::set<std::string> seen;
  for (const Record& r : replay) seen.insert(r.payload.substr(0, r.payload.find(':', r.payload.find(':') + 1)));
  EXPECT_EQ(seen.size(), size_t{kThreads * kAppends});
}

// A child writes like cairnd (Write + Sync, one thread) and reports each acknowledged index; it is
// killed with SIGKILL mid-stream, three times; every acknowledged index must replay.
TEST(WalDirectSync, KillDashNineLosesNoAcknowledgedWrite) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path(), 16 << 10);  // small: kills also land near rolls
  std::set<uint64_t> acked;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      auto wal = Wal::Open(options, nullptr);
      if (!wal.ok()) _exit(2);
      for (uint64_t index = (*wal)->last_index() + 1;; ++index) {
        if (!(*wal)->Write({Entry(index, std::string(100 + index % 700, 'k'))}).ok()) _exit(3);
        if (!(*wal)->Sync().ok()) _exit(4);
        if (::write(fds[1], &index, sizeof index) != sizeof index) _exit(5);
      }
    }
    ::close(fds[1]);
    size_t got_this_round = 0;
    uint64_t index;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got_this_round < 400 && std::chrono::steady_clock::now() < deadline &&
           ::read(fds[0], &index, sizeof index) == sizeof index) {
      acked.insert(index);
      ++got_this_round;
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early, status " << status;
    while (::read(fds[0], &index, sizeof index) == sizeof index) acked.insert(index);
    ::close(fds[0]);
    ASSERT_GT(got_this_round, 0u);

    std::vector<Record> replay;
    auto wal = Wal::Open(options, &replay);
    ASSERT_TRUE(wal.ok()) << "round " << round << ": " << wal.status();
    std::set<uint64_t> present;
    for (const Record& r : replay) present.insert(r.index);
    for (uint64_t i : acked) ASSERT_TRUE(present.count(i)) << "round " << round << ": acknowledged " << i << " lost";
  }
}

TEST(WalDirectSync, RefusedAtOpenFallsBackToFdatasync) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path());
  uint64_t next = 1;
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append({Entry(next++, "direct")}).ok());
    EXPECT_EQ(wal->stats().direct_syncs, 1u);
    wal->RefuseDirectIoForTesting(/*at_open=*/true);
    ASSERT_TRUE(WaitForPrepared(*wal, 2));
    const uint64_t created = wal->stats().segments_created;
    while (wal->stats().segments_created == created) {
      ASSERT_TRUE(wal->Append({Entry(next++, std::string(1000, 'r'))}).ok());
    }
    const WalStats before = wal->stats();
    EXPECT_EQ(before.direct_sync_refusals, 1u);
    ASSERT_TRUE(wal->Write({Entry(next++, "buffered")}).ok());
    ASSERT_TRUE(wal->Sync().ok());
    const WalStats after = wal->stats();
    EXPECT_EQ(after.syncs, before.syncs + 1);
    EXPECT_EQ(after.direct_syncs, before.direct_syncs) << "the refused segment is written through the page cache";
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, next - 1));
}

TEST(WalDirectSync, RefusedWriteLosesNothingAndFallsBackToFdatasync) {
  TempDir tmp;
  const WalOptions options = Direct(tmp.path());
  std::vector<Record> records;
  {
    auto wal = MustOpen(options, nullptr);
    records.push_back(Entry(1, std::string(6000, 'a')));
    ASSERT_TRUE(wal->Append({records.back()}).ok());  // through O_DIRECT
    wal->RefuseDirectIoForTesting(/*at_open=*/false);
    const WalStats before = wal->stats();
    records.push_back(Entry(2, std::string(3000, 'b')));
    records.push_back(Entry(3, "c"));
    ASSERT_TRUE(wal->Write({records[1]}).ok());
    ASSERT_TRUE(wal->Write({records[2]}).ok());
    ASSERT_TRUE(wal->Sync().ok());
    WalStats after = wal->stats();
    EXPECT_EQ(after.direct_sync_refusals, before.direct_sync_refusals + 1);
    EXPECT_EQ(after.syncs, before.syncs + 1);
    EXPECT_EQ(after.direct_syncs, before.direct_syncs);
    records.push_back(Entry(4, "d"));
    ASSERT_TRUE(wal->Append({records.back()}).ok());
    after = wal->stats();
    EXPECT_EQ(after.direct_sync_refusals, before.direct_sync_refusals + 1) << "no retry within the segment";
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(replay, records);
}

// tmpfs: older kernels refuse O_DIRECT (the log falls back); newer ones accept it. Either way the
// log works and replays exactly.
TEST(WalDirectSync, WorksOnTmpfs) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  std::string pattern = "/dev/shm/cairn-wal-direct-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const std::string dir = pattern;
  struct RemoveOnExit {
    std::string dir;
    ~RemoveOnExit() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  const WalOptions options = Direct(dir, 64 << 10);
  const std::vector<Record> records = RecordsOfManySizes();
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_NO_FATAL_FAILURE(WriteMixed(wal.get(), records));
    const WalStats stats = wal->stats();
    EXPECT_TRUE(stats.direct_syncs > 0 || stats.direct_sync_refusals > 0);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(replay, records);
}

TEST(WalDirectSync, IgnoredWithoutZeroFillOrWithoutSync) {
  TempDir tmp;
  for (const WalOptions& options :
       {WalOptions{.dir = tmp.sub("a"), .direct_sync = true},
        WalOptions{.dir = tmp.sub("b"), .sync = false, .zero_fill_segments = true, .direct_sync = true}}) {
    {
      auto wal = MustOpen(options, nullptr);
      ASSERT_TRUE(wal->Append({Entry(1, "x")}).ok());
      EXPECT_EQ(wal->stats().direct_syncs, 0u);
      EXPECT_EQ(wal->stats().direct_sync_refusals, 0u);
    }
    std::vector<Record> replay;
    MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 1));
  }
}

// The block buffer on its own: whole blocks are written, the zeros past the data stay zeros, and
// nothing is written past the zero-filled end.
TEST(DirectTail, FlushWritesWholeBlocksAndKeepsThePartialOne) {
  TempDir tmp;
  const std::string path = tmp.sub("file");
  std::string expected(16384, '\0');
  std::fill(expected.begin(), expected.begin() + 5000, 'h');  // existing data up to 5000
  WriteFile(path, expected);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto tail = DirectTail::Open(path, fd, 5000, 16384);
  ::close(fd);
  ASSERT_TRUE(tail.ok()) << tail.status();
  DirectTail& t = **tail;
  EXPECT_EQ(t.data_end(), 5000u);
  EXPECT_TRUE(t.pending().empty());
  EXPECT_TRUE(t.Flush().ok());  // nothing pending: no write

  t.Stage(std::string(100, 'x'));
  EXPECT_EQ(t.pending_offset(), 5000u);
  ASSERT_TRUE(t.Flush().ok());
  std::fill(expected.begin() + 5000, expected.begin() + 5100, 'x');
  EXPECT_TRUE(ReadFile(path) == expected);

  t.Stage(std::string(4000, 'y'));  // crosses into the third block
  t.Stage(std::string(10, 'z'));
  EXPECT_EQ(t.pending_offset(), 5100u);
  EXPECT_EQ(t.pending().size(), 4010u);
  ASSERT_TRUE(t.Flush().ok());
  std::fill(expected.begin() + 5100, expected.begin() + 9100, 'y');
  std::fill(expected.begin() + 9100, expected.begin() + 9110, 'z');
  EXPECT_TRUE(ReadFile(path) == expected);
  EXPECT_EQ(t.data_end(), 9110u);

  EXPECT_TRUE(t.Fits(16384 - 9110));
  EXPECT_FALSE(t.Fits(16384 - 9110 + 1));
  EXPECT_EQ(std::filesystem::file_size(path), 16384u);
}

TEST(DirectTail, RefusedWriteKeepsThePendingBytes) {
  TempDir tmp;
  const std::string path = tmp.sub("file");
  WriteFile(path, std::string(8192, '\0'));
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto tail = DirectTail::Open(path, fd, 36, 8192);
  ::close(fd);
  ASSERT_TRUE(tail.ok()) << tail.status();
  (*tail)->Stage("abc");
  (*tail)->RefuseWritesForTesting();
  EXPECT_EQ((*tail)->Flush().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ((*tail)->pending(), "abc");
  EXPECT_EQ((*tail)->pending_offset(), 36u);
  EXPECT_EQ(DirectTail::Open(path, -1, 0, 8192, /*refuse_for_testing=*/true).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace cairn::wal
