// WalOptions::zero_fill_segments: segments are full-length files of zeros written ahead of time
// by a background preparer; the log behaves exactly as before otherwise.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
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

constexpr uint64_t kSegmentBytes = 64 << 10;
constexpr char kPreparedName[] = "prepared-segment.wal.tmp";

// Every test runs twice: plain, and with WalOptions::direct_sync (which needs sync on to matter).
bool direct_sync_on = false;

WalOptions ZeroFilled(const std::string& dir, bool sync = false) {
  return WalOptions{.dir = dir,
                    .segment_bytes = kSegmentBytes,
                    .sync = sync || direct_sync_on,
                    .zero_fill_segments = true,
                    .direct_sync = direct_sync_on};
}

class WalZeroFill : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { direct_sync_on = GetParam(); }
  void TearDown() override { direct_sync_on = false; }
};

std::string DirectSyncName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "DirectSync" : "Buffered";
}

// Appends ~1 KiB entries from *next_index on until the log rolls once.
void AppendUntilRoll(Wal* wal, uint64_t* next_index) {
  const uint64_t created = wal->stats().segments_created;
  while (wal->stats().segments_created == created) {
    ASSERT_TRUE(wal->Append({Entry((*next_index)++, std::string(1000, 'z'))}).ok());
  }
}

bool AllZeroFrom(const std::string& bytes, size_t from) {
  return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(), [](char c) { return c == 0; });
}

TEST_P(WalZeroFill, SegmentsAreFullLengthAndRoundTripAcrossRollsAndReopen) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path(), /*sync=*/true);
  uint64_t next = 1;
  {
    auto wal = MustOpen(options, nullptr);
    EXPECT_EQ(wal->stats().segments_prepared, 1u);  // the first segment, zero-filled by Open
    ASSERT_EQ(SegmentFiles(tmp.path()).size(), 1u);
    EXPECT_EQ(std::filesystem::file_size(SegmentFiles(tmp.path())[0]), kSegmentBytes);
    for (uint64_t roll = 1; roll <= 3; ++roll) {
      ASSERT_TRUE(WaitForPrepared(*wal, 1 + roll));
      AppendUntilRoll(wal.get(), &next);
    }
    const WalStats stats = wal->stats();
    EXPECT_EQ(stats.rolls_without_prepared_segment, 0u);
    EXPECT_EQ(stats.early_rolls, 0u);
    EXPECT_EQ(stats.segment_prepare_errors, 0u);
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_EQ(segments.size(), 4u);
  for (const std::string& s : segments) EXPECT_EQ(std::filesystem::file_size(s), kSegmentBytes) << s;
  EXPECT_FALSE(std::filesystem::exists(tmp.sub(kPreparedName))) << "the destructor removes an unused prepared file";

  for (int round = 0; round < 2; ++round) {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, next - 1));
    EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
    ASSERT_TRUE(wal->Append({Entry(next++, "after reopen")}).ok());
    // The zero tail was kept: appends still overwrite zeros instead of growing the file.
    EXPECT_EQ(std::filesystem::file_size(SegmentFiles(tmp.path()).back()), kSegmentBytes);
  }
}

// Crash-style damage to the last record, followed by the segment's zeros: a torn tail, dropped.
class ZeroFilledTornTail : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  void SetUp() override { direct_sync_on = std::get<1>(GetParam()); }
  void TearDown() override { direct_sync_on = false; }
};

TEST_P(ZeroFilledTornTail, IsDroppedWithoutShorteningTheSegmentAndAppendsResume) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path(), /*sync=*/true);
  std::vector<size_t> offsets = {kSegmentHeaderBytes};
  {
    auto wal = MustOpen(options, nullptr);
    for (uint64_t i = 1; i <= 5; ++i) {
      const Record r = Entry(i, std::string(100, static_cast<char>('a' + i)));
      ASSERT_TRUE(wal->Append({r}).ok());
      offsets.push_back(offsets.back() + FramedSize(r));
    }
  }
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  ASSERT_EQ(bytes.size(), kSegmentBytes);
  switch (std::get<0>(GetParam())) {
    case 0:  // the record's second half never reached the disk: zeros
      std::fill(bytes.begin() + (offsets[4] + offsets[5]) / 2, bytes.begin() + offsets[5], '\0');
      break;
    case 1:  // only its first sector made it: everything after byte 6 of the frame is zero
      std::fill(bytes.begin() + offsets[4] + 6, bytes.begin() + offsets[5], '\0');
      break;
    case 2:  // a garbled payload byte (checksum mismatch), zeros after it
      bytes[offsets[4] + 40] ^= 0x5a;
      break;
  }
  WriteFile(segment, bytes);
  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 4));
    EXPECT_GT(wal->stats().torn_bytes_dropped, 0u);
    // Not truncated: the torn bytes were overwritten with zeros in place.
    const std::string after = ReadFile(segment);
    EXPECT_EQ(after.size(), kSegmentBytes);
    EXPECT_TRUE(AllZeroFrom(after, offsets[4]));
    ASSERT_TRUE(wal->Append({Entry(5, "again")}).ok());
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 5));
  EXPECT_EQ(replay.back().payload, "again");
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
  EXPECT_EQ(std::filesystem::file_size(segment), kSegmentBytes);
}

INSTANTIATE_TEST_SUITE_P(Damage, ZeroFilledTornTail, ::testing::Combine(::testing::Range(0, 3), ::testing::Bool()));

TEST_P(WalZeroFill, DamageFollowedByAValidRecordIsStillDataLoss) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path());
  size_t second_record = 0;
  {
    auto wal = MustOpen(options, nullptr);
    second_record = kSegmentHeaderBytes + FramedSize(Entry(1, std::string(100, 'x')));
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(wal->Append({Entry(i, std::string(100, 'x'))}).ok());
  }
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  bytes[second_record + 50] ^= 0x01;
  WriteFile(segment, bytes);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss) << wal.status();
  EXPECT_EQ(ReadFile(segment), bytes) << "refusing must not repair anything";
}

TEST_P(WalZeroFill, LeftoverTempFilesAreRemovedAndTheNextFileIsPreparedFresh) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append({Entry(1, "one"), Entry(2, "two")}).ok());
  }
  // As if a crash left a half-prepared file (not zeros) and a roll that never got renamed.
  const std::string stray_prepared = tmp.sub(kPreparedName);
  const std::string stray_segment = tmp.sub(SegmentFileName({1, 3}) + ".tmp");
  WriteFile(stray_prepared, std::string(1000, 'G'));
  WriteFile(stray_segment, "CAIRN");
  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 2));
    EXPECT_FALSE(std::filesystem::exists(stray_segment));
    ASSERT_TRUE(WaitForPrepared(*wal, 1));
    const std::string prepared = ReadFile(stray_prepared);
    EXPECT_EQ(prepared.size(), kSegmentBytes);
    EXPECT_TRUE(AllZeroFrom(prepared, 0)) << "leftover bytes survived in the prepared file";
    uint64_t next = 3;
    AppendUntilRoll(wal.get(), &next);
    EXPECT_EQ(wal->stats().rolls_without_prepared_segment, 0u);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  ASSERT_FALSE(replay.empty());
  EXPECT_EQ(IndexesOf(replay), Range(1, replay.back().index));
}

TEST_P(WalZeroFill, RollWithoutAPreparedFileFallsBackThenMovesToAZeroFilledSegment) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path());
  uint64_t next = 1;
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(WaitForPrepared(*wal, 2));
    wal->PauseSegmentPreparerForTesting(true);
    AppendUntilRoll(wal.get(), &next);  // takes the prepared file
    AppendUntilRoll(wal.get(), &next);  // nothing ready: must not wait, falls back
    WalStats stats = wal->stats();
    EXPECT_EQ(stats.rolls_without_prepared_segment, 1u);
    ASSERT_EQ(SegmentFiles(tmp.path()).size(), 3u);
    EXPECT_LT(std::filesystem::file_size(SegmentFiles(tmp.path())[2]), kSegmentBytes) << "a growing segment";
    ASSERT_TRUE(wal->Append({Entry(next++, "in the growing segment")}).ok());

    wal->PauseSegmentPreparerForTesting(false);
    ASSERT_TRUE(WaitForPrepared(*wal, 3));
    ASSERT_TRUE(wal->Append({Entry(next++, "first in a zero-filled segment")}).ok());
    stats = wal->stats();
    EXPECT_EQ(stats.early_rolls, 1u);
    const std::vector<std::string> segments = SegmentFiles(tmp.path());
    ASSERT_EQ(segments.size(), 4u);
    EXPECT_EQ(std::filesystem::file_size(segments[3]), kSegmentBytes);
    ASSERT_TRUE(wal->Append({Entry(next++, "second")}).ok());
    EXPECT_EQ(wal->stats().early_rolls, 1u) << "one early roll, not one per write";
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, next - 1));
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
}

TEST_P(WalZeroFill, LogWrittenWithoutZeroFillMovesToZeroFilledSegmentsAfterReopen) {
  TempDir tmp;
  WalOptions plain{.dir = tmp.path(), .segment_bytes = kSegmentBytes, .sync = false};
  {
    auto wal = MustOpen(plain, nullptr);
    ASSERT_TRUE(wal->Append({Entry(1, "old"), Entry(2, "format")}).ok());
  }
  const std::string old_segment = SegmentFiles(tmp.path()).at(0);
  const uint64_t old_size = std::filesystem::file_size(old_segment);
  ASSERT_LT(old_size, kSegmentBytes);
  {
    std::vector<Record> replay;
    auto wal = MustOpen(ZeroFilled(tmp.path()), &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 2));
    ASSERT_TRUE(WaitForPrepared(*wal, 1));
    ASSERT_TRUE(wal->Append({Entry(3, "new")}).ok());
    EXPECT_EQ(wal->stats().early_rolls, 1u);
  }
  EXPECT_EQ(std::filesystem::file_size(old_segment), old_size);
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(std::filesystem::file_size(segments[1]), kSegmentBytes);
  // And back: without the option, a zero-filled tail is read (and trimmed) like any other.
  std::vector<Record> replay;
  auto wal = MustOpen(plain, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 3));
  ASSERT_TRUE(wal->Append({Entry(4, "plain again")}).ok());
}

TEST_P(WalZeroFill, ReleaseBeforeDeletesZeroFilledSegments) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path());
  auto wal = MustOpen(options, nullptr);
  uint64_t next = 1;
  for (int roll = 0; roll < 3; ++roll) AppendUntilRoll(wal.get(), &next);
  ASSERT_EQ(SegmentFiles(tmp.path()).size(), 4u);
  ASSERT_TRUE(wal->ReleaseBefore(next).ok());
  EXPECT_EQ(SegmentFiles(tmp.path()).size(), 1u);
  EXPECT_EQ(wal->stats().segments_deleted, 3u);
  ASSERT_TRUE(wal->Append({Entry(next, "kept")}).ok());
}

TEST_P(WalZeroFill, DestroyingTheWalWhilePreparingStopsAndCleansUp) {
  TempDir tmp;
  {
    auto wal = MustOpen({.dir = tmp.path(), .segment_bytes = kSegmentBytes}, nullptr);
    ASSERT_TRUE(wal->Append({Entry(1, "x")}).ok());
  }
  // Reopen with big segments: the preparer is (very likely) still writing zeros when we close.
  for (int i = 0; i < 3; ++i) {
    auto wal = MustOpen(
        {.dir = tmp.path(), .segment_bytes = 64 << 20, .zero_fill_segments = true, .direct_sync = GetParam()},
        nullptr);
    ASSERT_TRUE(wal->Append({Entry(2 + i, "y")}).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.sub(kPreparedName)));
  std::vector<Record> replay;
  MustOpen({.dir = tmp.path(), .segment_bytes = kSegmentBytes}, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 4));
}

// A disk that cannot hold another segment's zeros (here: a file-size limit below segment_bytes,
// in a child process) must not stop the log: it runs on growing segments and counts the failures.
TEST_P(WalZeroFill, FailingToZeroFillFallsBackToGrowingSegments) {
  TempDir tmp;
  const WalOptions options = ZeroFilled(tmp.path());
  const pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // EFBIG from write() instead of a signal
    struct rlimit limit = {16 << 10, 16 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    auto wal = Wal::Open(options, nullptr);
    if (!wal.ok()) _exit(3);
    if ((*wal)->stats().segment_prepare_errors < 1) _exit(4);
    for (uint64_t i = 1; i <= 20; ++i) {
      if (!(*wal)->Append({Entry(i, std::string(100, 'f'))}).ok()) _exit(5);
    }
    // Closing joins the preparer, which may still be retrying (and failing) in the background;
    // _exit on its own could catch it between creating its file and removing it.
    (*wal).reset();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  EXPECT_FALSE(std::filesystem::exists(tmp.sub(kPreparedName))) << "a failed preparation leaves no file";
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 20));
}

INSTANTIATE_TEST_SUITE_P(Modes, WalZeroFill, ::testing::Bool(), DirectSyncName);

TEST(WalZeroFillScan, ScanOfALongZeroTailEndsAtTheLastRecord) {
  SegmentId id{0, 1};
  std::string contents = EncodeSegmentHeader(id);
  AppendFramedRecord(Entry(1, "a"), &contents);
  AppendFramedRecord(Entry(2, "b"), &contents);
  const size_t valid_end = contents.size();
  contents.resize(16 << 20, '\0');
  for (bool is_last : {false, true}) {
    ScannedSegment scanned;
    ASSERT_TRUE(ScanSegment(contents, "seg", is_last, &scanned).ok());
    EXPECT_EQ(IndexesOf(scanned.records), Range(1, 2));
    EXPECT_EQ(scanned.valid_end, valid_end);
    EXPECT_EQ(scanned.dropped_bytes, 0u);
  }
  // A torn frame header (a length, then nothing) far from the end: torn tail if last, else data loss.
  contents[valid_end] = 40;
  ScannedSegment scanned;
  ASSERT_TRUE(ScanSegment(contents, "seg", /*is_last=*/true, &scanned).ok());
  EXPECT_EQ(scanned.valid_end, valid_end);
  EXPECT_EQ(scanned.dropped_bytes, 1u);
  EXPECT_EQ(ScanSegment(contents, "seg", /*is_last=*/false, &scanned).code(), absl::StatusCode::kDataLoss);
  // Non-zero bytes at the very end of the file still count as dropped.
  contents.back() = 1;
  ASSERT_TRUE(ScanSegment(contents, "seg", /*is_last=*/true, &scanned).ok());
  EXPECT_EQ(scanned.dropped_bytes, contents.size() - valid_end);
}

}  // namespace
}  // namespace cairn::wal
