// DNS SRV lookups (RFC 2782) for --discovery-srv, in cairnd and cairnctl.
//
// Queries go to the system's resolvers (/etc/resolv.conf), or, when the environment variable
// CAIRN_DNS_SERVER names one ("IPv4:port" or "IPv4", port 53), to that server only: a Consul
// agent's DNS on 127.0.0.1:8600, or a test's. Names are queried as given (no search domains).
// Thread-safe: each lookup has its own resolver state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::discovery {

struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;  // as in the record, with its trailing dot ("m1.example.com.")
};

// The SRV records of "_<service>._<proto>.<domain>", ordered as RFC 2782 asks: by priority, and
// within one priority at random, weighted. Errors name the query and the server in Go's words, as
// etcd prints them: "lookup _etcd-client._tcp.example.com on 10.0.0.2:53: no such host"
// (NotFound: no such name, or no SRV record under it), "...: server misbehaving" (Unavailable),
// "...: i/o timeout" (DeadlineExceeded). A bad CAIRN_DNS_SERVER is InvalidArgument.
absl::StatusOr<std::vector<SrvRecord>> LookupSrv(const std::string& service, const std::string& proto,
                                                 const std::string& domain);

// RFC 2782's order for records already fetched; `uniform` draws from [0, 1) (a test passes its
// own). Exposed for tests.
std::vector<SrvRecord> OrderByPriorityAndWeight(std::vector<SrvRecord> records, double (*uniform)());

}  // namespace cairn::discovery
