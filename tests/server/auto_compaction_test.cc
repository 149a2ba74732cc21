// Auto-compaction: etcd's flag values, the schedule on a made-up clock, and the thread proposing.
#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "mvcc/errors.h"
#include "server/auto_compactor.h"
#include "server/compaction_schedule.h"
#include "server/config.h"

namespace cairn::server {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Mode = CompactionRetention::Mode;

TEST(CompactionRetentionFlags, ParseAsEtcdDoes) {
  auto off = ParseCompactionRetention("periodic", "0");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->mode, Mode::kOff);

  auto hours_only = ParseCompactionRetention("periodic", "1");  // a bare number is hours
  ASSERT_TRUE(hours_only.ok());
  EXPECT_EQ(hours_only->mode, Mode::kPeriodic);
  EXPECT_EQ(hours_only->period, hours(1));

  auto duration = ParseCompactionRetention("periodic", "1h30m");
  ASSERT_TRUE(duration.ok());
  EXPECT_EQ(duration->period, minutes(90));

  auto revisions = ParseCompactionRetention("revision", "1000");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->mode, Mode::kRevision);
  EXPECT_EQ(revisions->revisions, 1000);

  EXPECT_FALSE(ParseCompactionRetention("revision", "10m").ok());
  EXPECT_FALSE(ParseCompactionRetention("periodic", "soon").ok());
  EXPECT_FALSE(ParseCompactionRetention("hourly", "1").ok());
}

TEST(CompactionRetentionFlags, BadValuesStopStartUp) {
  Config defaults = *ParseFlags({});
  EXPECT_EQ(defaults.auto_compaction_mode, "periodic");
  EXPECT_EQ(defaults.auto_compaction_retention, "0");
  EXPECT_EQ(defaults.auto_compaction.mode, Mode::kOff);
  auto two_hours = ParseFlags({"--auto-compaction-retention=2h"});
  ASSERT_TRUE(two_hours.ok());
  EXPECT_EQ(two_hours->auto_compaction.mode, Mode::kPeriodic);
  EXPECT_EQ(two_hours->auto_compaction.period, hours(2));
  EXPECT_TRUE(ParseFlags({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "500"}).ok());
  auto bad = ParseFlags({"--auto-compaction-mode=revision", "--auto-compaction-retention=1h"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--auto-compaction-retention"), std::string::npos);
}

// Drives a schedule a step at a time, the revision growing by `writes_per_step`; returns the
// (step, revision) of every compaction asked for, each reported done.
std::vector<std::pair<int, int64_t>> Drive(CompactionSchedule& schedule, CompactionSchedule::Clock::time_point start,
                                           int steps, int64_t writes_per_step, bool leader = true) {
  std::vector<std::pair<int, int64_t>> asked;
  int64_t revision = 100;
  for (int i = 0; i <= steps; ++i) {
    const auto now = start + i * schedule.Step();
    if (auto due = schedule.Poll(now, revision, leader)) {
      asked.emplace_back(i, *due);
      schedule.Done(now, *due, true);
    }
    revision += writes_per_step;
  }
  return asked;
}

TEST(CompactionSchedule, PeriodicKeepsOneRetentionOfHistory) {
  const CompactionRetention retention = *ParseCompactionRetention("periodic", "10m");
  const auto start = CompactionSchedule::Clock::time_point{};
  CompactionSchedule schedule(retention, start);
  EXPECT_EQ(schedule.Step(), minutes(1));  // a tenth of the retention
  // 100 writes a minute for 35 minutes: the first compaction after 10 minutes, to the revision of
  // 10 minutes before, then one every 10 minutes.
  const auto asked = Drive(schedule, start, 35, 100);
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0], std::make_pair(10, int64_t{100}));
  EXPECT_EQ(asked[1], std::make_pair(20, int64_t{1100}));
  EXPECT_EQ(asked[2], std::make_pair(30, int64_t{2100}));
}

TEST(CompactionSchedule, LongRetentionsCompactHourly) {
  const CompactionRetention retention = *ParseCompactionRetention("periodic", "5");  // 5 hours
  const auto start = CompactionSchedule::Clock::time_point{};
  CompactionSchedule schedule(retention, start);
  EXPECT_EQ(schedule.Step(), minutes(6));
  const auto asked = Drive(schedule, start, 70, 10);  // 7 hours of 6-minute steps
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0].first, 50);  // 5 h
  EXPECT_EQ(asked[0].second, 100);
  EXPECT_EQ(asked[1].first, 60);  // then every hour, keeping 5 h
  EXPECT_EQ(asked[1].second, 100 + 10 * 10);
  EXPECT_EQ(asked[2].first, 70);
}

TEST(CompactionSchedule, OnlyTheLeaderCompactsAndAFailureIsRetriedNextStep) {
  const CompactionRetention retention = *ParseCompactionRetention("periodic", "10s");
  const auto start = CompactionSchedule::Clock::time_point{};
  CompactionSchedule follower(retention, start);
  EXPECT_TRUE(Drive(follower, start, 40, 5, /*leader=*/false).empty());

  CompactionSchedule schedule(retention, start);
  std::optional<int64_t> due;
  int step = 0;
  for (; step <= 10 && !due; ++step) due = schedule.Poll(start + step * schedule.Step(), 100 + step, true);
  ASSERT_TRUE(due.has_value());
  schedule.Done(start + step * schedule.Step(), *due, false);
  EXPECT_TRUE(schedule.Poll(start + (step + 1) * schedule.Step(), 200, true).has_value());
}

TEST(CompactionSchedule, IdleStoreIsNotCompactedAgain) {
  const CompactionRetention retention = *ParseCompactionRetention("periodic", "10m");
  const auto start = CompactionSchedule::Clock::time_point{};
  CompactionSchedule schedule(retention, start);
  const auto asked = Drive(schedule, start, 60, 0);  // nothing written after revision 100
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].second, 100);
  CompactionSchedule fresh(retention, start);
  int64_t never_written = 1;
  for (int i = 0; i <= 30; ++i) {
    EXPECT_FALSE(fresh.Poll(start + i * fresh.Step(), never_written, true).has_value()) << "step " << i;
  }
}

TEST(CompactionSchedule, RevisionModeKeepsTheLastRevisions) {
  const CompactionRetention retention = *ParseCompactionRetention("revision", "1000");
  const auto start = CompactionSchedule::Clock::time_point{};
  CompactionSchedule schedule(retention, start);
  EXPECT_EQ(schedule.Step(), minutes(5));
  EXPECT_FALSE(schedule.Poll(start + minutes(5), 900, true).has_value());  // not 1000 revisions yet
  auto due = schedule.Poll(start + minutes(10), 5000, true);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(*due, 4000);
  schedule.Done(start + minutes(10), 4000, true);
  EXPECT_FALSE(schedule.Poll(start + minutes(15), 5000, true).has_value());  // nothing moved
  EXPECT_FALSE(schedule.Poll(start + minutes(20), 7000, false).has_value());
  EXPECT_EQ(schedule.Poll(start + minutes(25), 7000, true), std::optional<int64_t>(6000));
}

TEST(AutoCompactor, ProposesWhatTheScheduleAsksAndStops) {
  CompactionRetention retention = *ParseCompactionRetention("periodic", "200ms");
  std::atomic<int64_t> revision{1};
  std::mutex mu;
  std::vector<int64_t> proposed;
  AutoCompactorHooks hooks;
  hooks.current_revision = [&] { return revision.fetch_add(10); };
  hooks.is_leader = [] { return true; };
  hooks.compact = [&](int64_t rev) {
    std::lock_guard<std::mutex> lock(mu);
    proposed.push_back(rev);
    // The first one finds the revision compacted already; that also counts as done.
    return proposed.size() == 1 ? mvcc::ErrCompacted() : absl::OkStatus();
  };
  hooks.log = [](const std::string&) {};
  AutoCompactor compactor(retention, std::move(hooks));
  compactor.Start();
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (proposed.size() >= 2) break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  compactor.Stop();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(proposed.size(), 2u);
  EXPECT_LT(proposed[0], proposed[1]);  // the window moved on
}

}  // namespace
}  // namespace cairn::server
