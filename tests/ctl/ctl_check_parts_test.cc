// Unit tests for the pieces behind `check perf` / `check datascale`: pb.v1's progress line,
// etcd's report figures, and reading a figure out of Prometheus text.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "tools/ctl/load_report.h"
#include "tools/ctl/metrics_fetch.h"
#include "tools/ctl/progress_bar.h"

namespace cairn::ctl {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ProgressBar, LineWithoutTerminalHasNoBarAndNoPadding) {
  EXPECT_EQ(ProgressBar::Render(60, 0, 0, false, seconds(0), seconds(0), seconds(0)), " 0 / 60    0.00%");
  // 20 of 60 after 20 s, last change just now: 40 s left, in pb's own form.
  EXPECT_EQ(ProgressBar::Render(60, 20, 0, false, seconds(20), seconds(20), seconds(0)), " 20 / 60   33.33% 00m40s");
  // Finished: the elapsed time in Go's Duration form, whole seconds.
  EXPECT_EQ(ProgressBar::Render(60, 60, 0, true, milliseconds(60400), seconds(60), seconds(0)),
            " 60 / 60  100.00% 1m0s");
}

TEST(ProgressBar, LineOnATerminalFillsTheWidthWithTheBar) {
  std::string line = ProgressBar::Render(10, 5, 40, false, seconds(0), seconds(0), seconds(0));
  EXPECT_EQ(line.size(), 40u);
  EXPECT_EQ(line, " 5 / 10 [==========>-----------]  50.00%");  // 22 columns of bar: 11 done, 11 to go
}

TEST(ProgressBar, PbDurationForm) {
  EXPECT_EQ(PbDuration(seconds(5)), "00m05s");
  EXPECT_EQ(PbDuration(seconds(3725)), "1h02m05s");
}

TEST(LoadReport, FiguresAsEtcdReportComputesThem) {
  LoadStats s = LoadReport::Compute({0.1, 0.3}, 2.0);
  EXPECT_DOUBLE_EQ(s.rps, 1.0);
  EXPECT_DOUBLE_EQ(s.slowest, 0.3);
  EXPECT_NEAR(s.stddev, 0.1, 1e-12);  // population deviation, not sample
}

TEST(LoadReport, NothingSucceededGivesNaNDeviation) {
  LoadStats s = LoadReport::Compute({}, 1.0);
  EXPECT_EQ(s.rps, 0);
  EXPECT_EQ(s.slowest, 0);
  EXPECT_TRUE(std::isnan(s.stddev));
}

TEST(LoadReport, ErrorsAreCountedNotTimed) {
  LoadReport r;
  r.Begin();
  auto t = LoadReport::Clock::now();
  r.Record("etcdserver: request timed out", t, t + seconds(9));
  r.Record("etcdserver: request timed out", t, t + seconds(9));
  r.Record("", t, t + milliseconds(2));
  LoadStats s = r.End();
  EXPECT_EQ(s.errors.at("etcdserver: request timed out"), 2);
  EXPECT_NEAR(s.slowest, 0.002, 1e-9);
}

TEST(Metrics, FindsTheFirstSampleLine) {
  const std::string text =
      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      "# TYPE process_resident_memory_bytes gauge\n"
      "process_resident_memory_bytes 2.4576e+07\n"
      "process_virtual_memory_bytes 1e9\n";
  auto v = FindMetric(text, "process_resident_memory_bytes");
  ASSERT_TRUE(v.ok());
  EXPECT_DOUBLE_EQ(*v, 24576000);
}

TEST(Metrics, MissingOrMalformedReadsLikeEtcdctl) {
  EXPECT_EQ(FindMetric("x 1\n", "process_resident_memory_bytes").status().message(),
            "could not find: process_resident_memory_bytes");
  EXPECT_EQ(FindMetric("process_resident_memory_bytes abc\n", "process_resident_memory_bytes").status().message(),
            "parse error: strconv.ParseFloat: parsing \"abc\": invalid syntax");
}

TEST(Metrics, UnreachableEndpointIsAFetchError) {
  // Port 1 on loopback: nothing listens there (privileged, never bound by tests).
  auto v = FetchMetric("127.0.0.1:1", "process_resident_memory_bytes");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(),
            "fetch error: Get \"http://127.0.0.1:1/metrics\": dial tcp 127.0.0.1:1: connect: connection refused");
}

}  // namespace
}  // namespace cairn::ctl
