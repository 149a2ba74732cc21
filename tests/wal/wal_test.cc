#include "raft/wal/wal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "raft/wal/segment.h"
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
using testing::WriteFile;

std::vector<Record> Entries(uint64_t first, uint64_t count, size_t payload_bytes = 10) {
  std::vector<Record> out;
  for (uint64_t i = first; i < first + count; ++i) {
    std::string payload = absl::StrCat("value-", i, "-");
    payload.resize(std::max(payload.size(), payload_bytes), 'x');
    out.push_back(Entry(i, payload));
  }
  return out;
}

TEST(Wal, RoundTripsEveryRecordTypeAcrossReopen) {
  TempDir tmp;
  WalOptions options{.dir = tmp.sub("wal")};  // created if missing
  const std::vector<Record> written = {
      {RecordType::kMetadata, 0, 0, "cluster-id=42"},
      {RecordType::kHardState, 3, 7, "vote=2"},
      Entry(1, ""),
      Entry(2, std::string(5000, '\0') + "binary\xff"),
      {RecordType::kSnapshot, 2, 2, ""},
  };
  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_TRUE(replay.empty());
    ASSERT_TRUE(wal->Append(written).ok());
    EXPECT_EQ(wal->last_index(), 2u);
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(replay, written);
  EXPECT_EQ(wal->last_index(), 2u);
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
}

TEST(Wal, AppendsAfterReopenContinueTheLog) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  for (uint64_t round = 0; round < 3; ++round) {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, round * 10));
    ASSERT_TRUE(wal->Append(Entries(round * 10 + 1, 10)).ok());
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 30));
}

TEST(Wal, WriteThenSyncIsDurableAndCountsOneSync) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  {
    auto wal = MustOpen(options, nullptr);
    const uint64_t syncs_before = wal->stats().syncs;
    ASSERT_TRUE(wal->Write(Entries(1, 5)).ok());
    ASSERT_TRUE(wal->Write(Entries(6, 5)).ok());
    ASSERT_TRUE(wal->Sync().ok());
    ASSERT_TRUE(wal->Sync().ok());  // nothing new written: no second fdatasync
    EXPECT_EQ(wal->stats().syncs, syncs_before + 1);
    EXPECT_EQ(wal->stats().records_written, 10u);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 10));
}

TEST(Wal, SecondOpenOfSameDirIsRefused) {
  TempDir tmp;
  auto first = MustOpen({.dir = tmp.path()}, nullptr);
  auto second = Wal::Open({.dir = tmp.path()}, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
}

// Writes records 1..5 into a single segment and returns the byte offset where each record starts
// (plus the end of the last one).
std::vector<size_t> WriteFiveAndRecordOffsets(const WalOptions& options) {
  std::vector<size_t> offsets = {kSegmentHeaderBytes};
  auto wal = MustOpen(options, nullptr);
  for (const Record& r : Entries(1, 5, 40)) {
    EXPECT_TRUE(wal->Append({r}).ok());
    offsets.push_back(offsets.back() + FramedSize(r));
  }
  return offsets;
}

class TornTail : public ::testing::TestWithParam<int> {};

// Cut points inside the last record: 1 byte of its length, mid frame header, just past the frame
// header, mid payload, one byte short of complete.
TEST_P(TornTail, IsTruncatedAndTheLogKeepsWorking) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  const size_t last_start = offsets[4], last_end = offsets[5];
  ASSERT_EQ(std::filesystem::file_size(segment), last_end);
  const size_t cuts[] = {last_start + 1, last_start + 6, last_start + 8, last_start + 30, last_end - 1};
  const size_t cut = cuts[GetParam()];
  std::filesystem::resize_file(segment, cut);

  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 4));
    EXPECT_EQ(wal->stats().torn_bytes_dropped, cut - last_start);
    EXPECT_EQ(std::filesystem::file_size(segment), last_start);
    ASSERT_TRUE(wal->Append({Entry(5, "rewritten")}).ok());
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 5));
  EXPECT_EQ(replay.back().payload, "rewritten");
  EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
}

INSTANTIATE_TEST_SUITE_P(CutPoints, TornTail, ::testing::Range(0, 5));

TEST(Wal, GarbageAfterTheLastRecordIsTruncated) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  WriteFile(segment, ReadFile(segment) + "\x13\x37garbage-that-is-not-a-record");
  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 5));
    EXPECT_GT(wal->stats().torn_bytes_dropped, 0u);
    ASSERT_TRUE(wal->Append({Entry(6, "after")}).ok());
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 6));
}

TEST(Wal, TornRecordInPreallocatedZeroFilledSegmentIsTruncated) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path(), .segment_bytes = 1 << 20, .preallocate = true};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  ASSERT_EQ(std::filesystem::file_size(segment), 1u << 20);  // zeros after the records
  // Zero the second half of record 5, as if its last sector never reached the disk.
  std::string bytes = ReadFile(segment);
  std::fill(bytes.begin() + (offsets[4] + offsets[5]) / 2, bytes.begin() + offsets[5], '\0');
  WriteFile(segment, bytes);
  {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 4));
    EXPECT_GT(wal->stats().torn_bytes_dropped, 0u);
    ASSERT_TRUE(wal->Append({Entry(5, "again")}).ok());
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 5));
}

TEST(Wal, CorruptRecordFollowedByValidRecordsIsDataLossNamingFileAndOffset) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  bytes[offsets[1] + 30] ^= 0x01;  // one bit of record 2's payload
  WriteFile(segment, bytes);

  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss);
  const std::string message(wal.status().message());
  EXPECT_NE(message.find("wal: corrupt record in " + segment + " at offset " + std::to_string(offsets[1])),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("checksum"), std::string::npos) << message;
  // Refusing must not have "repaired" anything.
  EXPECT_EQ(ReadFile(segment), bytes);
}

TEST(Wal, CorruptLengthFieldInTheMiddleIsDataLoss) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  bytes[offsets[2] + 3] = '\x7f';  // record 3 claims a huge length
  WriteFile(segment, bytes);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss) << wal.status();
  EXPECT_NE(wal.status().message().find("at offset " + std::to_string(offsets[2])), absl::string_view::npos)
      << wal.status();
}

WalOptions SmallSegments(const std::string& dir) {
  return WalOptions{.dir = dir, .segment_bytes = 1024, .sync = false};
}

TEST(Wal, DamageAtTheEndOfANonLastSegmentIsDataLoss) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append(Entries(1, 100, 50)).ok());
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_GE(segments.size(), 3u);
  // Chop the last byte off the first segment: looks torn, but later segments exist.
  std::filesystem::resize_file(segments[0], std::filesystem::file_size(segments[0]) - 1);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(wal.status().message().find(segments[0]), absl::string_view::npos) << wal.status();
}

TEST(Wal, MissingMiddleSegmentIsDataLoss) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append(Entries(1, 100, 50)).ok());
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_GE(segments.size(), 3u);
  std::filesystem::remove(segments[1]);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(wal.status().message().find("gap"), absl::string_view::npos) << wal.status();
}

TEST(Wal, OtherFormatVersionIsFailedPrecondition) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  bytes[8] = 2;  // format version field
  WriteFile(segment, bytes);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wal.status().message().find("version 2"), absl::string_view::npos) << wal.status();
}

TEST(Wal, NotAWalFileIsDataLoss) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  std::string bytes = ReadFile(segment);
  bytes[0] = 'X';
  WriteFile(segment, bytes);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kDataLoss) << wal.status();
}

TEST(Wal, RollsOverManySegmentsAndReplaysInOrder) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    for (uint64_t i = 1; i <= 500; i += 5) ASSERT_TRUE(wal->Append(Entries(i, 5, 30)).ok());
    EXPECT_GT(wal->stats().live_segments, 20u);
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  EXPECT_GT(segments.size(), 20u);
  for (const std::string& s : segments) {
    EXPECT_LE(std::filesystem::file_size(s), options.segment_bytes) << s;
  }
  // File names carry the sequence number and the first index the segment was opened for.
  for (size_t i = 0; i < segments.size(); ++i) {
    auto id = ParseSegmentFileName(std::filesystem::path(segments[i]).filename().string());
    ASSERT_TRUE(id.has_value()) << segments[i];
    EXPECT_EQ(id->seq, i);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 500));
}

TEST(Wal, RecordLargerThanASegmentGetsASegmentOfItsOwn) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append({Entry(1, "small")}).ok());
    ASSERT_TRUE(wal->Append({Entry(2, std::string(5000, 'b'))}).ok());
    ASSERT_TRUE(wal->Append({Entry(3, "small")}).ok());
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 3));
  EXPECT_EQ(replay[1].payload.size(), 5000u);
}

TEST(Wal, ReleaseBeforeDeletesOnlyWholeSegmentsBelowTheIndex) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  auto wal = MustOpen(options, nullptr);
  for (uint64_t i = 1; i <= 200; ++i) ASSERT_TRUE(wal->Append({Entry(i, "payload-of-thirty-bytes-....")}).ok());
  const size_t before = SegmentFiles(tmp.path()).size();
  ASSERT_GT(before, 5u);

  ASSERT_TRUE(wal->ReleaseBefore(100).ok());
  const size_t after = SegmentFiles(tmp.path()).size();
  EXPECT_LT(after, before);
  EXPECT_EQ(wal->stats().segments_deleted, before - after);
  EXPECT_EQ(wal->stats().live_segments, after);

  std::vector<Record> replay;
  wal.reset();
  wal = MustOpen(options, &replay);
  const std::vector<uint64_t> indexes = IndexesOf(replay);
  ASSERT_FALSE(indexes.empty());
  // Entry 99 must survive (its segment is not wholly below 100) and nothing kept is out of order.
  EXPECT_LE(indexes.front(), 99u);
  EXPECT_EQ(indexes, Range(indexes.front(), 200));
  // Anything that was deleted was below 100; the segment holding entry 100 is never touched.
  EXPECT_GT(indexes.front(), 1u);

  // Even releasing everything keeps the segment being written.
  ASSERT_TRUE(wal->ReleaseBefore(UINT64_MAX).ok());
  EXPECT_EQ(SegmentFiles(tmp.path()).size(), 1u);
  ASSERT_TRUE(wal->Append({Entry(201, "still works")}).ok());
}

TEST(Wal, LatestHardStateAndMetadataSurviveReleasingTheirSegment) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  const Record metadata{RecordType::kMetadata, 0, 0, "node=1"};
  const Record old_state{RecordType::kHardState, 1, 0, "term=1"};
  const Record new_state{RecordType::kHardState, 2, 0, "term=2"};
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append({metadata, old_state}).ok());
    ASSERT_TRUE(wal->Append(Entries(1, 50, 40)).ok());
    ASSERT_TRUE(wal->Append({new_state}).ok());
    ASSERT_TRUE(wal->Append(Entries(51, 50, 40)).ok());
    ASSERT_TRUE(wal->ReleaseBefore(90).ok());
    ASSERT_GT(wal->stats().segments_deleted, 0u);
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  std::map<RecordType, Record> latest;
  for (const Record& r : replay) latest[r.type] = r;
  ASSERT_TRUE(latest.count(RecordType::kMetadata));
  ASSERT_TRUE(latest.count(RecordType::kHardState));
  EXPECT_EQ(latest[RecordType::kMetadata], metadata);
  EXPECT_EQ(latest[RecordType::kHardState], new_state);
  EXPECT_EQ(IndexesOf(replay).back(), 100u);
}

TEST(Wal, ConcurrentAppendsAreCompleteOrderedContiguousAndShareSyncs) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path(), .segment_bytes = 256 << 10};  // some rollovers too
  constexpr int kThreads = 16;
  constexpr int kAppendsPerThread = 100;
  {
    auto wal = MustOpen(options, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kAppendsPerThread; ++i) {
          // Three records per call: they must land next to each other.
          std::vector<Record> batch;
          for (int part = 0; part < 3; ++part) {
            batch.push_back(Entry(0, absl::StrCat(t, ":", i, ":", part, ":", std::string(64, 'p'))));
          }
          ASSERT_TRUE(wal->Append(std::move(batch)).ok());
        }
      });
    }
    for (std::thread& th : threads) th.join();
    const WalStats stats = wal->stats();
    EXPECT_EQ(stats.appends, uint64_t{kThreads * kAppendsPerThread});
    EXPECT_EQ(stats.records_written, uint64_t{kThreads * kAppendsPerThread * 3});
    // Group commit: concurrent callers shared fdatasyncs (rollover syncs included in the count).
    EXPECT_LT(stats.syncs, stats.appends) << "syncs " << stats.syncs << " appends " << stats.appends;
  }
  std::vector<Record> replay;
  MustOpen(options, &replay);
  ASSERT_EQ(replay.size(), size_t{kThreads * kAppendsPerThread * 3});
  std::vector<int> next_call(kThreads, 0);
  for (size_t i = 0; i < replay.size(); i += 3) {
    std::vector<std::string> parts = absl::StrSplit(replay[i].payload, ':');
    const int t = std::stoi(parts[0]);
    const int call = std::stoi(parts[1]);
    EXPECT_EQ(call, next_call[t]) << "thread " << t << " out of order";
    next_call[t] = call + 1;
    for (int part = 0; part < 3; ++part) {
      EXPECT_EQ(replay[i + part].payload.substr(0, parts[0].size() + parts[1].size() + 4),
                absl::StrCat(t, ":", call, ":", part, ":"))
          << "records of one Append were split";
    }
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_call[t], kAppendsPerThread);
}

TEST(Wal, TornTailOfTheLastOfManySegmentsIsTruncated) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    for (uint64_t i = 1; i <= 60; ++i) ASSERT_TRUE(wal->Append({Entry(i, std::string(40, 'e'))}).ok());
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_GE(segments.size(), 3u);
  std::filesystem::resize_file(segments.back(), std::filesystem::file_size(segments.back()) - 3);
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 59));
  EXPECT_GT(wal->stats().torn_bytes_dropped, 0u);
}

TEST(Wal, PreallocatedSegmentsRollOverAndReplay) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path(), .segment_bytes = 4096, .sync = false, .preallocate = true};
  {
    auto wal = MustOpen(options, nullptr);
    for (uint64_t i = 1; i <= 300; i += 3) ASSERT_TRUE(wal->Append(Entries(i, 3, 50)).ok());
  }
  const std::vector<std::string> segments = SegmentFiles(tmp.path());
  ASSERT_GE(segments.size(), 5u);
  // Every segment, including finished ones, is zero-padded to the preallocated size.
  for (const std::string& s : segments) EXPECT_EQ(std::filesystem::file_size(s), 4096u) << s;
  for (int round = 0; round < 2; ++round) {
    std::vector<Record> replay;
    auto wal = MustOpen(options, &replay);
    EXPECT_EQ(IndexesOf(replay), Range(1, 300 + round));
    EXPECT_EQ(wal->stats().torn_bytes_dropped, 0u);
    ASSERT_TRUE(wal->Append({Entry(301 + round, "more")}).ok());
  }
}

TEST(Wal, RecordOfUnknownTypeWithGoodChecksumIsFailedPrecondition) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  const std::vector<size_t> offsets = WriteFiveAndRecordOffsets(options);
  const std::string segment = SegmentFiles(tmp.path()).at(0);
  // Re-frame record 3 with type 99, as a newer release might write it.
  Record future{static_cast<RecordType>(99), 1, 3, std::string(40 - kBodyHeaderBytes + 17, 'f')};
  std::string frame;
  AppendFramedRecord(future, &frame);
  std::string bytes = ReadFile(segment);
  bytes = bytes.substr(0, offsets[2]) + frame;
  WriteFile(segment, bytes);
  auto wal = Wal::Open(options, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), absl::StatusCode::kFailedPrecondition) << wal.status();
  EXPECT_NE(wal.status().message().find("unknown type 99"), absl::string_view::npos) << wal.status();
}

TEST(Wal, RejectsRecordsOfUnknownTypeWithoutWritingThem) {
  TempDir tmp;
  auto wal = MustOpen({.dir = tmp.path()}, nullptr);
  const absl::Status s = wal->Append({Entry(1, "ok"), Record{static_cast<RecordType>(0), 0, 0, ""}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(wal->stats().records_written, 0u);
  EXPECT_TRUE(wal->Append({Entry(1, "ok")}).ok());  // not poisoned by a caller mistake
}

TEST(Wal, LastIndexFollowsEntriesAndIsNotLoweredByACarriedSnapshot) {
  TempDir tmp;
  WalOptions options = SmallSegments(tmp.path());
  {
    auto wal = MustOpen(options, nullptr);
    ASSERT_TRUE(wal->Append({Record{RecordType::kSnapshot, 1, 5, ""}}).ok());
    EXPECT_EQ(wal->last_index(), 5u);
    ASSERT_TRUE(wal->Append(Entries(6, 40, 60)).ok());  // rolls: the snapshot record is carried
    EXPECT_EQ(wal->last_index(), 45u);
    ASSERT_GT(wal->stats().live_segments, 1u);
  }
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(wal->last_index(), 45u);
  EXPECT_GT(IndexesOf(replay, RecordType::kSnapshot).size(), 1u);  // carried copies
  ASSERT_TRUE(wal->Append({Entry(44, "rewritten by a new leader", 2)}).ok());
  EXPECT_EQ(wal->last_index(), 44u);
}

TEST(Wal, LeftoverTempSegmentFromACrashedRollIsIgnored) {
  TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  WriteFiveAndRecordOffsets(options);
  const std::string stray = tmp.sub(SegmentFileName({1, 6}) + ".tmp");
  WriteFile(stray, "CAIRN");  // header never completed
  std::vector<Record> replay;
  auto wal = MustOpen(options, &replay);
  EXPECT_EQ(IndexesOf(replay), Range(1, 5));
  EXPECT_FALSE(std::filesystem::exists(stray));
}

}  // namespace
}  // namespace cairn::wal
