// The exposition format a Prometheus server parses, and counters that lose nothing under contention.
#include "server/metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace cairn::metrics {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(RegistryTest, CounterAndGaugeHaveHelpTypeAndValue) {
  Registry r;
  Counter* c = r.AddCounter("puts_total", "Puts seen.");
  Gauge* g = r.AddGauge("depth", "Queue depth.");
  c->Add(3);
  c->Inc();
  g->Set(-7);
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "# HELP puts_total Puts seen.\n# TYPE puts_total counter\nputs_total 4\n")) << text;
  EXPECT_TRUE(Contains(text, "# HELP depth Queue depth.\n# TYPE depth gauge\ndepth -7\n")) << text;
  // Families come out in name order, whatever the registration order.
  EXPECT_LT(text.find("depth"), text.find("puts_total"));
}

TEST(RegistryTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram* h = r.AddHistogram("fsync_seconds", "Fsync latency.", ExponentialBuckets(0.001, 2, 3));
  h->Observe(0.0005);  // first bucket
  h->Observe(0.001);   // le is inclusive: still the first
  h->Observe(0.003);   // third (0.004)
  h->Observe(5);       // only +Inf
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "# TYPE fsync_seconds histogram\n")) << text;
  EXPECT_TRUE(Contains(text,
                       "fsync_seconds_bucket{le=\"0.001\"} 2\n"
                       "fsync_seconds_bucket{le=\"0.002\"} 2\n"
                       "fsync_seconds_bucket{le=\"0.004\"} 3\n"
                       "fsync_seconds_bucket{le=\"+Inf\"} 4\n"
                       "fsync_seconds_sum 5.0045\n"
                       "fsync_seconds_count 4\n"))
      << text;
}

TEST(RegistryTest, EtcdDiskBucketsEndAt8192Ms) {
  const std::vector<double> b = ExponentialBuckets(0.001, 2, 14);
  ASSERT_EQ(b.size(), 14u);
  EXPECT_DOUBLE_EQ(b.front(), 0.001);
  EXPECT_DOUBLE_EQ(b.back(), 8.192);
  EXPECT_EQ(FormatValue(b.back()), "8.192");
}

TEST(RegistryTest, LabelledSeriesShareOneHeaderAndEscapeValues) {
  Registry r;
  r.AddCounter("calls_total", "Calls.", {{"method", "Put"}})->Inc();
  r.AddCounter("calls_total", "Calls.", {{"method", "a\"b\\c\nd"}});
  Histogram* h = r.AddHistogram("lat", "Latency.", {1}, {{"op", "x"}});
  h->Observe(2);
  const std::string text = r.Render();
  EXPECT_EQ(text.find("# TYPE calls_total"), text.rfind("# TYPE calls_total"));
  EXPECT_TRUE(Contains(text, "calls_total{method=\"Put\"} 1\n")) << text;
  EXPECT_TRUE(Contains(text, "calls_total{method=\"a\\\"b\\\\c\\nd\"} 0\n")) << text;
  // The bucket bound goes after the series' own labels.
  EXPECT_TRUE(Contains(text, "lat_bucket{op=\"x\",le=\"1\"} 0\nlat_bucket{op=\"x\",le=\"+Inf\"} 1\n")) << text;
  EXPECT_TRUE(Contains(text, "lat_sum{op=\"x\"} 2\nlat_count{op=\"x\"} 1\n")) << text;
}

TEST(RegistryTest, HelpIsEscaped) {
  Registry r;
  r.AddGauge("g", "line one\nback\\slash");
  EXPECT_TRUE(Contains(r.Render(), "# HELP g line one\\nback\\\\slash\n"));
}

TEST(RegistryTest, FunctionsAndCollectorsAreReadAtScrapeTime) {
  Registry r;
  double value = 1;
  r.AddFunction("size_bytes", "Size.", MetricType::kGauge, [&value] { return value; });
  int peers = 1;
  r.AddCollector("peer_failures_total", "Failures.", MetricType::kCounter, [&peers](SampleSink* sink) {
    for (int i = 0; i < peers; ++i) sink->Add({{"To", std::to_string(i)}}, i * 10);
  });
  EXPECT_TRUE(Contains(r.Render(), "size_bytes 1\n"));
  value = 2.5e9;
  peers = 2;
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "size_bytes 2500000000\n")) << text;
  EXPECT_TRUE(Contains(text, "# TYPE peer_failures_total counter\n")) << text;
  EXPECT_TRUE(Contains(text, "peer_failures_total{To=\"0\"} 0\npeer_failures_total{To=\"1\"} 10\n")) << text;
}

TEST(RegistryTest, FormatValueReadsBack) {
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
}

TEST(RegistryTest, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  Counter* c = r.AddCounter("n_total", "N.");
  Histogram* h = r.AddHistogram("h", "H.", {0.5});
  constexpr int kThreads = 8, kEach = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        c->Inc();
        h->Observe(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->value(), uint64_t{kThreads} * kEach);
  const Histogram::Snapshot s = h->Read();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kEach);
  EXPECT_DOUBLE_EQ(s.sum, double{kThreads} * kEach);  // exact: sums of 1.0 stay integers
}

}  // namespace
}  // namespace cairn::metrics
