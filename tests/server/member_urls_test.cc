// etcd 3.4's MemberAdd URL rules and learner limit (server/member_urls.h).
#include "server/member_urls.h"

#include <gtest/gtest.h>

namespace cairn::server {
namespace {

google::protobuf::RepeatedPtrField<std::string> Urls(std::initializer_list<const char*> urls) {
  google::protobuf::RepeatedPtrField<std::string> out;
  for (const char* u : urls) out.Add(u);
  return out;
}

TEST(MemberUrlsTest, AcceptsWhatEtcdAccepts) {
  for (const char* url : {"http://127.0.0.1:2380", "https://h.example:2380", "unix://sock:1", "unixs://a:0",
                          "http://[::1]:2380", "http://host:", "http://h:1?q"}) {
    EXPECT_TRUE(IsMemberUrl(url)) << url;
  }
}

TEST(MemberUrlsTest, RefusesWhatEtcdRefuses) {
  // Each of these was answered "given member URLs are invalid" by etcd 3.4 (test_differential_ops).
  for (const char* url : {"", "not a url", "127.0.0.1:2380", "http://", "unix://x", "http://127.0.0.1:1/path",
                          "http://127.0.0.1:1/", "ftp://h:1", "http://h", "http://::1:2380"}) {
    EXPECT_FALSE(IsMemberUrl(url)) << url;
  }
}

TEST(MemberUrlsTest, ListNeedsOneAndAllValid) {
  EXPECT_TRUE(CheckMemberUrls(Urls({"http://a:1", "http://b:2"})).ok());
  for (const auto& urls : {Urls({}), Urls({"http://a:1", "bad"})}) {
    absl::Status s = CheckMemberUrls(urls);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "etcdserver: given member URLs are invalid");
  }
}

TEST(MemberUrlsTest, OneLearnerAtATime) {
  cairnpb::Membership membership;
  membership.add_members()->set_id(1);
  EXPECT_TRUE(CheckLearnerRoom(membership).ok());
  auto* learner = membership.add_members();
  learner->set_id(2);
  learner->set_is_learner(true);
  absl::Status s = CheckLearnerRoom(membership);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "etcdserver: too many learner members in cluster");
}

}  // namespace
}  // namespace cairn::server
