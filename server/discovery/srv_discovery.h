// etcd's DNS SRV discovery (--discovery-srv): which client endpoints and which founding members a
// domain's SRV records name. Lookups go through srv_lookup (and CAIRN_DNS_SERVER).
//
// Records, for domain D and the optional --discovery-srv-name N (suffix "-N"):
//   clients: _etcd-client-ssl[-N]._tcp.D (https)  and  _etcd-client[-N]._tcp.D (http)
//   members: _etcd-server-ssl[-N]._tcp.D (https)  and  _etcd-server[-N]._tcp.D (http)
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::discovery {

// The service name of one record set: SrvService("etcd-client", "prod", true) is
// "etcd-client-ssl-prod".
std::string SrvService(const std::string& base, const std::string& service_name, bool tls);

// "https://host:port" for each _etcd-client-ssl record, then "http://host:port" for each
// _etcd-client record, each set in RFC 2782 order. The host is the record's target without its
// trailing dot. Fails only when both lookups fail, with etcd's text:
// "dns lookup errors: <https lookup error> and <http lookup error>".
absl::StatusOr<std::vector<std::string>> ClientEndpoints(const std::string& domain, const std::string& service_name);

struct FoundingMember {
  std::string name;  // this member's own name, or "0", "1", ... for the others (etcd's names)
  std::string peer_url;
};

// The founding members a new member of `domain` bootstraps with, as etcd forms them: every
// _etcd-server-ssl and _etcd-server record is one member at scheme://target:port; a record whose
// target:port resolves to the same address as one of `advertise_peer_urls` (compared as resolved
// "ip:port", IPv4 first, as etcd compares them) is this member and gets `name`; the others get
// numbers in the order found. Unlike etcd 3.4, which fails unless the _etcd-server-ssl lookup
// succeeds, the two sets are combined (etcd 3.5's rule). Errors (InvalidArgument): nothing found
// ("error querying DNS SRV records for _etcd-server-ssl[-N] <error>; for _etcd-server[-N]
// <error>"), a record of this member with the other scheme, or no record of this member
// ("cannot find local etcd member \"NAME\" in SRV records"). Records whose target does not
// resolve are skipped.
absl::StatusOr<std::vector<FoundingMember>> FoundingMembersFromSrv(const std::string& name, const std::string& domain,
                                                                  const std::string& service_name,
                                                                  const std::vector<std::string>& advertise_peer_urls);

}  // namespace cairn::discovery
