// Unit tests for cairnctl's pure pieces: flag parsing, Go-compatible formatting, JSON,
// tables and service records. The end-to-end comparisons with etcdctl live in the
// python drivers next to this file.
#include <gtest/gtest.h>

#include "etcdserverpb/rpc.pb.h"
#include "tools/ctl/flags.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/json_writer.h"
#include "tools/ctl/service_record.h"
#include "tools/ctl/table.h"

namespace cairn::ctl {
namespace {

FlagSet GetLikeFlags() {
  FlagSet fs;
  fs.Add({"endpoints", "", FlagKind::kStringSlice, "127.0.0.1:2379"});
  fs.Add({"write-out", "w", FlagKind::kString, "simple"});
  fs.Add({"prefix", "", FlagKind::kBool, "false"});
  fs.Add({"limit", "", FlagKind::kInt64, "0"});
  fs.Add({"dial-timeout", "", FlagKind::kDuration, "2s"});
  fs.Add({"interactive", "i", FlagKind::kBool, "false"});
  return fs;
}

TEST(Flags, InterleavedFlagsAndPositionals) {
  FlagSet fs = GetLikeFlags();
  auto args = ParseFlags({"foo", "--prefix", "-w", "json", "--limit=3", "bar"}, fs);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, (std::vector<std::string>{"foo", "bar"}));
  EXPECT_TRUE(fs.GetBool("prefix"));
  EXPECT_EQ(fs.GetString("write-out"), "json");
  EXPECT_EQ(fs.GetInt64("limit"), 3);
}

TEST(Flags, DoubleDashEndsFlags) {
  FlagSet fs = GetLikeFlags();
  auto args = ParseFlags({"k", "--", "-value", "--prefix"}, fs);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, (std::vector<std::string>{"k", "-value", "--prefix"}));
  EXPECT_FALSE(fs.GetBool("prefix"));
}

TEST(Flags, ShorthandForms) {
  FlagSet fs = GetLikeFlags();
  ASSERT_TRUE(ParseFlags({"-wfields", "-i"}, fs).ok());
  EXPECT_EQ(fs.GetString("write-out"), "fields");
  EXPECT_TRUE(fs.GetBool("interactive"));
}

TEST(Flags, SliceReplacesDefaultThenAppends) {
  FlagSet fs = GetLikeFlags();
  EXPECT_EQ(fs.GetSlice("endpoints"), (std::vector<std::string>{"127.0.0.1:2379"}));
  ASSERT_TRUE(ParseFlags({"--endpoints", "a:1,b:2", "--endpoints=c:3"}, fs).ok());
  EXPECT_EQ(fs.GetSlice("endpoints"), (std::vector<std::string>{"a:1", "b:2", "c:3"}));
}

TEST(Flags, EnvironmentOnlyWhenNotGiven) {
  FlagSet fs = GetLikeFlags();
  ASSERT_TRUE(ParseFlags({"--endpoints", "flag:1"}, fs).ok());
  ASSERT_TRUE(fs.SetFromEnv("endpoints", "env:1").ok());
  EXPECT_EQ(fs.GetSlice("endpoints"), (std::vector<std::string>{"flag:1"}));
  ASSERT_TRUE(fs.SetFromEnv("write-out", "json").ok());
  EXPECT_EQ(fs.GetString("write-out"), "json");
}

TEST(Flags, ErrorsReadLikePflag) {
  FlagSet fs = GetLikeFlags();
  EXPECT_EQ(ParseFlags({"--bogus"}, fs).status().message(), "unknown flag: --bogus");
  EXPECT_EQ(ParseFlags({"--limit"}, fs).status().message(), "flag needs an argument: --limit");
  EXPECT_EQ(ParseFlags({"--limit", "x"}, fs).status().message(),
            "invalid argument \"x\" for \"--limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax");
}

TEST(GoDuration, ParsesAndPrints) {
  EXPECT_EQ(*ParseGoDuration("1m30s"), 90'000'000'000);
  EXPECT_EQ(*ParseGoDuration("250ms"), 250'000'000);
  EXPECT_FALSE(ParseGoDuration("5").ok());
  EXPECT_EQ(GoDurationString(1'522'593), "1.522593ms");
  EXPECT_EQ(GoDurationString(5'001'115'119), "5.001115119s");
  EXPECT_EQ(GoDurationString(2'000), "2\xC2\xB5s");
  EXPECT_EQ(GoDurationString(61'000'000'000), "1m1s");
}

TEST(GoFormat, QuoteLikePercentQ) {
  EXPECT_EQ(GoQuote("va l"), "\"va l\"");
  EXPECT_EQ(GoQuote("a\nb\"c\\"), "\"a\\nb\\\"c\\\\\"");
  EXPECT_EQ(GoQuote(std::string("\x00\xff", 2)), "\"\\x00\\xff\"");
  EXPECT_EQ(GoQuote("h\xC3\xA9"), "\"h\xC3\xA9\"");
}

TEST(GoFormat, HumanizeBytesLikeEtcdctl) {
  EXPECT_EQ(HumanizeBytes(5), "5 B");
  EXPECT_EQ(HumanizeBytes(20480), "20 kB");
  EXPECT_EQ(HumanizeBytes(1500), "1.5 kB");
  EXPECT_EQ(HumanizeBytes(25'000'000), "25 MB");
}

TEST(GoFormat, ArgifyHandlesQuotes) {
  auto words = Argify("put \"a b\" 'c d' e");
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"put", "a b", "c d", "e"}));
}

TEST(Json, OmitsEmptyAndEncodesBytesAsBase64) {
  etcdserverpb::RangeResponse r;
  r.mutable_header()->set_revision(4);
  auto* kv = r.add_kvs();
  kv->set_key("foo");
  kv->set_value("bar");
  kv->set_create_revision(2);
  r.set_count(1);
  EXPECT_EQ(MessageJson(r),
            "{\"header\":{\"revision\":4},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,"
            "\"value\":\"YmFy\"}],\"count\":1}");
}

TEST(Json, OneofUsesGoNames) {
  etcdserverpb::ResponseOp op;
  op.mutable_response_put()->mutable_header()->set_revision(6);
  EXPECT_EQ(MessageJson(op), "{\"Response\":{\"ResponsePut\":{\"header\":{\"revision\":6}}}}");
}

TEST(Json, StringsEscapeLikeEncodingJson) {
  EXPECT_EQ(JsonString("<a&b>\n"), "\"\\u003ca\\u0026b\\u003e\\n\"");
}

TEST(Table, RightAlignedCellsCentredHeaders) {
  EXPECT_EQ(RenderTable({"endpoint", "hash"}, {{"127.0.0.1:2379", "42"}}),
            "+----------------+------+\n"
            "|    ENDPOINT    | HASH |\n"
            "+----------------+------+\n"
            "| 127.0.0.1:2379 |   42 |\n"
            "+----------------+------+\n");
}

TEST(ServiceRecord, RoundTrip) {
  ServiceInstance in{"web", "1", "10.0.0.1:80", {{"zone", "a\"b"}, {"tier", "x"}}};
  EXPECT_EQ(in.Key(), "/services/web/1");
  auto out = ServiceInstance::Parse(in.Key(), in.ToJson());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->address, "10.0.0.1:80");
  EXPECT_EQ(out->meta, in.meta);
  EXPECT_EQ(out->MetaText(), "tier=x,zone=a\"b");
  EXPECT_FALSE(ServiceInstance::Parse("/services/x/y", "not json").ok());
}

}  // namespace
}  // namespace cairn::ctl
