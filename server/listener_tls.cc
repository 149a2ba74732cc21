#include "server/listener_tls.h"

#include <algorithm>

#include "server/tls/tls.h"

namespace cairn::server {

absl::StatusOr<ListenerTls> PrepareTls(const tls::TlsFiles& files, const std::string& flag_prefix,
                                       const std::vector<Endpoint>& listen, const std::string& auto_tls_dir,
                                       bool dials) {
  const bool https = std::any_of(listen.begin(), listen.end(), [](const Endpoint& e) { return e.scheme == "https"; });
  std::vector<std::string> hosts;
  for (const Endpoint& e : listen) hosts.push_back(e.host);
  auto material = tls::ResolveTls(files, flag_prefix, https, auto_tls_dir, hosts);
  if (!material.ok()) return material.status();
  ListenerTls out;
  if (!material->has_value()) return out;
  if (https) out.server = tls::MakeServerCredentials(**material);
  if (dials) out.channel = tls::MakeChannelCredentials(**material);
  return out;
}

}  // namespace cairn::server
