#include "server/discovery/srv_discovery.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <map>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/discovery/srv_lookup.h"

namespace cairn::discovery {
namespace {

struct HostPort {
  std::string scheme;
  std::string host;  // without brackets
  std::string port;
};

std::optional<HostPort> SplitUrl(const std::string& url) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return std::nullopt;
  HostPort out;
  out.scheme = url.substr(0, sep);
  std::string rest = url.substr(sep + 3);
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (absl::StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return std::nullopt;
    out.host = rest.substr(1, close - 1);
    out.port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    out.host = rest.substr(0, colon);
    out.port = rest.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) return std::nullopt;
  return out;
}

// "ip:port" of host:port as etcd compares addresses: the first IPv4 address, else the first one.
absl::StatusOr<std::string> ResolveTcp(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve ", host, ":", port, ": ", gai_strerror(rc)));
  }
  const addrinfo* pick = found;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  }
  char ip[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (pick->ai_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(pick->ai_addr);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    out = absl::StrCat(ip, ":", ntohs(v4->sin_port));
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(pick->ai_addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    out = absl::StrCat("[", ip, "]:", ntohs(v6->sin6_port));
  }
  freeaddrinfo(found);
  return out;
}

std::string JoinHostPort(absl::string_view host, uint16_t port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace

std::string SrvService(const std::string& base, const std::string& service_name, bool tls) {
  std::string service = tls ? base + "-ssl" : base;
  if (!service_name.empty()) absl::StrAppend(&service, "-", service_name);
  return service;
}

absl::StatusOr<std::vector<std::string>> ClientEndpoints(const std::string& domain, const std::string& service_name) {
  std::vector<std::string> endpoints;
  absl::Status errors[2];
  const bool tls_first[2] = {true, false};
  for (int i = 0; i < 2; ++i) {
    auto records = LookupSrv(SrvService("etcd-client", service_name, tls_first[i]), "tcp", domain);
    if (!records.ok()) {
      errors[i] = records.status();
      continue;
    }
    for (const SrvRecord& r : *records) {
      endpoints.push_back(absl::StrCat(tls_first[i] ? "https://" : "http://",
                                       JoinHostPort(absl::StripSuffix(r.target, "."), r.port)));
    }
  }
  if (!errors[0].ok() && !errors[1].ok()) {
    return absl::Status(errors[1].code(),
                        absl::StrCat("dns lookup errors: ", errors[0].message(), " and ", errors[1].message()));
  }
  return endpoints;
}

absl::StatusOr<std::vector<FoundingMember>> FoundingMembersFromSrv(const std::string& name, const std::string& domain,
                                                                  const std::string& service_name,
                                                                  const std::vector<std::string>& advertise_peer_urls) {
  struct OwnUrl {
    std::string scheme;
    std::string url;
  };
  std::map<std::string, OwnUrl> own_by_address;  // resolved "ip:port" -> this member's URL there
  for (const std::string& url : advertise_peer_urls) {
    auto parts = SplitUrl(url);
    if (!parts) return absl::InvalidArgumentError(absl::StrCat("--initial-advertise-peer-urls: cannot parse ", url));
    auto address = ResolveTcp(parts->host, parts->port);
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--initial-advertise-peer-urls: ", address.status().message()));
    }
    own_by_address[*address] = OwnUrl{parts->scheme, url};
  }

  std::vector<FoundingMember> members;
  std::string problems;
  int next_number = 0;
  bool found_self = false;
  for (const bool tls : {true, false}) {
    const std::string service = SrvService("etcd-server", service_name, tls);
    const std::string scheme = tls ? "https" : "http";
    auto records = LookupSrv(service, "tcp", domain);
    std::string problem;
    if (!records.ok()) problem = std::string(records.status().message());
    for (const SrvRecord& r : records.ok() ? *records : std::vector<SrvRecord>{}) {
      const std::string host = std::string(absl::StripSuffix(r.target, "."));
      const std::string url = absl::StrCat(scheme, "://", JoinHostPort(host, r.port));
      auto address = ResolveTcp(host, std::to_string(r.port));
      if (!address.ok()) {
        problem = std::string(address.status().message());
        continue;
      }
      const auto own = own_by_address.find(*address);
      const bool is_self = own != own_by_address.end();
      if (is_self && own->second.scheme != scheme) {
        return absl::InvalidArgumentError(absl::StrCat("bootstrap at ", url, " from DNS for ", service,
                                                       " has scheme mismatch with expected peer ", own->second.url));
      }
      found_self = found_self || is_self;
      members.push_back(FoundingMember{is_self ? name : std::to_string(next_number++), url});
    }
    if (!problem.empty()) absl::StrAppend(&problems, problems.empty() ? "" : "; ", "for _", service, " ", problem);
  }
  if (members.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("error querying DNS SRV records ", problems));
  }
  if (!found_self) {
    return absl::InvalidArgumentError(absl::StrCat("cannot find local etcd member \"", name, "\" in SRV records"));
  }
  return members;
}

}  // namespace cairn::discovery
