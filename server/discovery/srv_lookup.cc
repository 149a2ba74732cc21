#include "server/discovery/srv_lookup.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cairn::discovery {
namespace {

constexpr char kServerVariable[] = "CAIRN_DNS_SERVER";

absl::StatusOr<sockaddr_in> ParseServer(absl::string_view text) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(53);
  std::string host(text);
  if (const size_t colon = text.rfind(':'); colon != absl::string_view::npos) {
    host = std::string(text.substr(0, colon));
    uint32_t port = 0;
    if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(kServerVariable, "=", text, ": the port must be 1-65535"));
    }
    addr.sin_port = htons(static_cast<uint16_t>(port));
  }
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(kServerVariable, "=", text, ": expected an IPv4 address, optionally with :port"));
  }
  return addr;
}

std::string FormatServer(const sockaddr_in& addr) {
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  return absl::StrCat(ip, ":", ntohs(addr.sin_port));
}

// One resolver state for one lookup, released on every path.
class Resolver {
 public:
  Resolver() = default;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  ~Resolver() {
    if (open_) res_nclose(&state_);
  }

  absl::Status Open() {
    std::memset(&state_, 0, sizeof state_);
    if (res_ninit(&state_) != 0) return absl::UnavailableError("cannot initialise the DNS resolver");
    open_ = true;
    const char* server = std::getenv(kServerVariable);
    if (server != nullptr && *server != '\0') {
      auto addr = ParseServer(server);
      if (!addr.ok()) return addr.status();
      // glibc takes a changed server list from the state it was given (res_ninit's docs); the
      // IPv6 entries it may have read from resolv.conf must go too.
      state_.nscount = 1;
      state_.nsaddr_list[0] = *addr;
      for (auto& extra : state_._u._ext.nsaddrs) extra = nullptr;
      // A private server answers at once or not at all: fail in seconds, not a minute.
      state_.retrans = 2;
      state_.retry = 2;
    }
    server_ = state_.nscount > 0 ? FormatServer(state_.nsaddr_list[0]) : std::string("127.0.0.1:53");
    return absl::OkStatus();
  }

  res_state state() { return &state_; }
  const std::string& server() const { return server_; }

 private:
  struct __res_state state_{};
  bool open_ = false;
  std::string server_;
};

// `answer` holds the last response when one came (res_nquery leaves it there even when it fails
// on its code), or the zeros it was filled with before the query.
absl::Status LookupError(const std::string& name, const std::string& server, const unsigned char* answer,
                         int saved_errno) {
  const std::string prefix = absl::StrCat("lookup ", name, " on ", server, ": ");
  const bool answered = (answer[2] & 0x80) != 0;  // the header's QR bit: this is a response
  if (!answered) {
    if (saved_errno == ECONNREFUSED) return absl::UnavailableError(prefix + "connection refused");
    return absl::DeadlineExceededError(prefix + "i/o timeout");
  }
  switch (answer[3] & 0x0f) {  // RCODE
    case ns_r_noerror:  // no SRV record under the name
    case ns_r_nxdomain:
      return absl::NotFoundError(prefix + "no such host");
    default:
      return absl::UnavailableError(prefix + "server misbehaving");
  }
}

double UniformDraw() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

std::vector<SrvRecord> OrderByPriorityAndWeight(std::vector<SrvRecord> records, double (*uniform)()) {
  std::map<uint16_t, std::vector<SrvRecord>> by_priority;
  for (auto& r : records) by_priority[r.priority].push_back(std::move(r));
  std::vector<SrvRecord> ordered;
  ordered.reserve(records.size());
  for (auto& [priority, group] : by_priority) {
    // RFC 2782: pick each next record with probability proportional to its weight; weight 0 only
    // has a chance when it is all that is left (or all weights are 0, then the order is uniform).
    while (!group.empty()) {
      uint64_t total = 0;
      for (const auto& r : group) total += r.weight;
      size_t pick = 0;
      if (total == 0) {
        pick = std::min(group.size() - 1, static_cast<size_t>(uniform() * static_cast<double>(group.size())));
      } else {
        const double point = uniform() * static_cast<double>(total);
        uint64_t running = 0;
        pick = group.size() - 1;
        for (size_t i = 0; i < group.size(); ++i) {
          running += group[i].weight;
          if (group[i].weight > 0 && point < static_cast<double>(running)) {
            pick = i;
            break;
          }
        }
      }
      ordered.push_back(std::move(group[pick]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(pick));
    }
  }
  return ordered;
}

absl::StatusOr<std::vector<SrvRecord>> LookupSrv(const std::string& service, const std::string& proto,
                                                 const std::string& domain) {
  const std::string name = absl::StrCat("_", service, "._", proto, ".", domain);
  Resolver resolver;
  if (auto s = resolver.Open(); !s.ok()) return s;

  std::vector<unsigned char> answer(NS_MAXMSG, 0);
  errno = 0;
  const int length = res_nquery(resolver.state(), name.c_str(), ns_c_in, ns_t_srv, answer.data(),
                                static_cast<int>(answer.size()));
  if (length < 0) return LookupError(name, resolver.server(), answer.data(), errno);

  ns_msg message;
  if (ns_initparse(answer.data(), length, &message) != 0) {
    return absl::UnavailableError(absl::StrCat("lookup ", name, " on ", resolver.server(), ": cannot parse the answer"));
  }
  std::vector<SrvRecord> records;
  const int count = ns_msg_count(message, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&message, ns_s_an, i, &rr) != 0) continue;
    // An answer may also carry the CNAMEs that led to the records.
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);
    SrvRecord record;
    record.priority = ns_get16(rdata);
    record.weight = ns_get16(rdata + 2);
    record.port = ns_get16(rdata + 4);
    char target[NS_MAXDNAME] = {};
    if (dn_expand(ns_msg_base(message), ns_msg_end(message), rdata + 6, target, sizeof target) < 0) continue;
    record.target = target;
    if (record.target.empty()) continue;  // RFC 2782's "." target: no service at this name
    if (record.target.back() != '.') record.target += '.';
    records.push_back(std::move(record));
  }
  if (records.empty()) return absl::NotFoundError(absl::StrCat("lookup ", name, " on ", resolver.server(), ": no such host"));
  return OrderByPriorityAndWeight(std::move(records), &UniformDraw);
}

}  // namespace cairn::discovery
