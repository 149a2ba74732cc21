// Unit tests of cairn-bench's pure parts: flag parsing, keys, the latency histogram.
#include <gtest/gtest.h>

#include <vector>

#include "tools/bench/histogram.h"
#include "tools/bench/keys.h"
#include "tools/bench/options.h"

namespace cairn::bench {
namespace {

absl::StatusOr<Options> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "cairn-bench");
  return ParseOptions(static_cast<int>(args.size()), const_cast<char**>(args.data()));
}

TEST(OptionsTest, ParsesEtcdBenchmarkStyleFlags) {
  auto o = Parse({"put", "--endpoints=http://127.0.0.1:1,127.0.0.1:2", "--conns", "4", "--clients=64",
                  "--total=500", "--key-size=16", "--val-size=256", "--key-space-size=1000", "--sequential-keys",
                  "--rate=100", "--json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->workload, Workload::kPut);
  EXPECT_EQ(o->endpoints, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_EQ(o->conns, 4);
  EXPECT_EQ(o->clients, 64);
  EXPECT_EQ(o->total, 500);
  EXPECT_EQ(o->key_size, 16);
  EXPECT_EQ(o->val_size, 256);
  EXPECT_EQ(o->key_space_size, 1000);
  EXPECT_TRUE(o->sequential_keys);
  EXPECT_DOUBLE_EQ(o->rate, 100);
  EXPECT_TRUE(o->json);
}

TEST(OptionsTest, RangeConsistency) {
  EXPECT_FALSE(Parse({"range"})->serializable);
  EXPECT_TRUE(Parse({"range", "--consistency=s"})->serializable);
  EXPECT_FALSE(Parse({"range", "--consistency=x"}).ok());
}

TEST(OptionsTest, WatchLatencyIsPacedAndWatchHasAPrefix) {
  auto o = Parse({"watch-latency"});
  ASSERT_TRUE(o.ok());
  EXPECT_DOUBLE_EQ(o->rate, 100);
  EXPECT_EQ(o->prefix, "watch/");
  EXPECT_DOUBLE_EQ(Parse({"watch"})->rate, 0);
}

TEST(OptionsTest, RejectsWhatItCannotRun) {
  EXPECT_FALSE(Parse({}).ok());
  EXPECT_FALSE(Parse({"frobnicate"}).ok());
  EXPECT_FALSE(Parse({"put", "--clients=0"}).ok());
  EXPECT_FALSE(Parse({"put", "--no-such-flag=1"}).ok());
  EXPECT_FALSE(Parse({"txn-put", "--txn-ops=129"}).ok());
  EXPECT_TRUE(absl::IsNotFound(Parse({"--help"}).status()));
}

TEST(KeysTest, KeysArePaddedAndSortInIndexOrder) {
  EXPECT_EQ(KeyAt("", 8, 42), "00000042");
  EXPECT_EQ(KeyAt("p/", 3, 12345), "p/12345");
  EXPECT_LT(KeyAt("", 8, 9), KeyAt("", 8, 10));
  EXPECT_EQ(PrefixEnd("watch/"), "watch0");
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

TEST(KeysTest, PickerStaysInsideTheKeySpace) {
  KeyPicker sequential("", 4, 3, true, 0);
  EXPECT_EQ(sequential.Pick(0), "0000");
  EXPECT_EQ(sequential.Pick(4), "0001");
  KeyPicker random("", 4, 10, false, 7);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random.Pick(i), "0010");
}

TEST(KeysTest, StampRoundTrips) {
  std::string value = MakeValue(32);
  StampValue(&value, 123456789012345);
  EXPECT_EQ(value.size(), 32u);
  EXPECT_EQ(ReadStamp(value), 123456789012345);
  EXPECT_EQ(ReadStamp("short"), 0);
}

TEST(HistogramTest, PercentilesWithinOnePercent) {
  Histogram h;
  for (int64_t v = 1; v <= 100000; ++v) h.Record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000);
  EXPECT_EQ(h.min(), 1000);
  EXPECT_EQ(h.max(), 100000000);
  EXPECT_NEAR(h.Percentile(0.5), 50e6, 0.01 * 50e6);
  EXPECT_NEAR(h.Percentile(0.99), 99e6, 0.01 * 99e6);
  EXPECT_NEAR(h.Percentile(0.999), 99.9e6, 0.01 * 99.9e6);
  EXPECT_NEAR(h.mean(), 50.0005e6, 1);
}

TEST(HistogramTest, MergeAndCoarseBinsKeepEveryCount) {
  Histogram a;
  Histogram b;
  for (int i = 0; i < 100; ++i) a.Record(10 + i);
  for (int i = 0; i < 50; ++i) b.Record(1000000 + i);
  a.Merge(b);
  EXPECT_EQ(a.count(), 150);
  int64_t total = 0;
  for (const auto& bin : a.Coarse(10)) total += bin.count;
  EXPECT_EQ(total, 150);
  EXPECT_EQ(Histogram().Percentile(0.5), 0);
}

}  // namespace
}  // namespace cairn::bench
