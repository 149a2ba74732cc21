#include "server/member_urls.h"

#include <algorithm>
#include <cctype>

namespace cairn::server {
namespace {

bool IsPort(std::string_view port) {
  // Go's net.SplitHostPort takes an empty port ("host:"), so etcd does too.
  return std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "host:port" as net.SplitHostPort splits it: one colon, or a bracketed IPv6 host before it.
bool IsHostPort(std::string_view hostport) {
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos || close + 1 >= hostport.size() || hostport[close + 1] != ':') return false;
    return IsPort(hostport.substr(close + 2));
  }
  const size_t colon = hostport.find(':');
  if (colon == std::string_view::npos || hostport.find(':', colon + 1) != std::string_view::npos) return false;
  return IsPort(hostport.substr(colon + 1));
}

}  // namespace

bool IsMemberUrl(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  const std::string_view scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https" && scheme != "unix" && scheme != "unixs") return false;
  std::string_view rest = url.substr(sep + 3);
  // A query or fragment ends the host and is let through, as by etcd; a path, even "/", is not.
  rest = rest.substr(0, rest.find_first_of("?#"));
  if (rest.find('/') != std::string_view::npos) return false;
  return IsHostPort(rest);
}

absl::Status CheckMemberUrls(const google::protobuf::RepeatedPtrField<std::string>& urls) {
  const bool ok = !urls.empty() && std::all_of(urls.begin(), urls.end(), [](const std::string& u) { return IsMemberUrl(u); });
  return ok ? absl::OkStatus() : absl::InvalidArgumentError("etcdserver: given member URLs are invalid");
}

absl::Status CheckLearnerRoom(const cairnpb::Membership& membership) {
  const auto learners = std::count_if(membership.members().begin(), membership.members().end(),
                                      [](const cairnpb::MemberRecord& m) { return m.is_learner(); });
  if (learners + 1 > kMaxLearners) {
    return absl::FailedPreconditionError("etcdserver: too many learner members in cluster");
  }
  return absl::OkStatus();
}

}  // namespace cairn::server
