// etcd 3.4's checks on the peer URLs of a MemberAdd (and, in Cairn, a MemberUpdate): what makes a
// URL list acceptable, and how many learners a cluster may hold. Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace cairn::server {

// etcd 3.4 lets a cluster hold one learner at a time.
inline constexpr int kMaxLearners = 1;

// True for a URL etcd accepts as a member URL: scheme http, https, unix or unixs, then host:port
// (IPv6 hosts in brackets; the port may be empty, as Go's net.SplitHostPort allows) and no path.
bool IsMemberUrl(std::string_view url);

// OK when `urls` is non-empty and every one IsMemberUrl; else InvalidArgument
// "etcdserver: given member URLs are invalid", etcd's answer to a MemberAdd with such URLs.
absl::Status CheckMemberUrls(const google::protobuf::RepeatedPtrField<std::string>& urls);

// OK when `membership` has room for one more learner; else FailedPrecondition
// "etcdserver: too many learner members in cluster".
absl::Status CheckLearnerRoom(const cairnpb::Membership& membership);

}  // namespace cairn::server
