// ReadWholeRevisions: a catch-up read never hands out part of a revision.
#include "server/watch/history_reader.h"

#include <gtest/gtest.h>

#include "tests/watch/fake_history.h"

namespace cairn::watch {
namespace {

using testing::FakeHistory;
using testing::Op;

TEST(HistoryReaderTest, DropsATrailingPartialRevisionAndResumesAtIt) {
  FakeHistory history(/*strict_limit=*/true);
  history.Commit({{Op::kPut, "a", "1"}, {Op::kPut, "b", "1"}});                      // rev 2
  history.Commit({{Op::kPut, "a", "2"}, {Op::kPut, "b", "2"}, {Op::kPut, "c", "2"}});  // rev 3
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  KeyRange all = KeyRange::FromRequest("", std::string(1, '\0'));
  ASSERT_TRUE(ReadWholeRevisions(history, all, 2, 3, &events, &next).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(next, 3);
  ASSERT_TRUE(ReadWholeRevisions(history, all, next, 3, &events, &next).ok());
  EXPECT_EQ(events.size(), 3u);
  EXPECT_EQ(next, 4);
}

TEST(HistoryReaderTest, ARevisionBiggerThanTheBatchComesWhole) {
  FakeHistory history(/*strict_limit=*/true);
  std::vector<Op> ops;
  for (int i = 0; i < 10; ++i) ops.push_back({Op::kPut, "k" + std::to_string(i), "v"});
  history.Commit(ops);  // rev 2
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  ASSERT_TRUE(ReadWholeRevisions(history, KeyRange::FromRequest("k", "l"), 1, 3, &events, &next).ok());
  EXPECT_EQ(events.size(), 10u);
  EXPECT_EQ(next, 3);
}

TEST(HistoryReaderTest, CompactedIsRecognised) {
  FakeHistory history;
  history.Commit({{Op::kPut, "a", "1"}});
  history.Compact(2);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  absl::Status status = ReadWholeRevisions(history, KeyRange::FromRequest("a", ""), 1, 3, &events, &next);
  EXPECT_TRUE(IsCompactedError(status)) << status;
}

}  // namespace
}  // namespace cairn::watch
