// cairn::tls cipher suites — etcd's --cipher-suites: the TLS 1.2 cipher suites cairnd offers and
// accepts, on its listeners and on the connections it opens to peers, named as etcd (Go) names
// them ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"). TLS 1.3 suites are not configurable, in Go
// as in OpenSSL, so a TLS 1.3 client is served whatever the list says (as etcd serves it).
//
// gRPC takes the list only process-wide, from GRPC_SSL_CIPHER_SUITES when it first builds TLS
// credentials: UseCipherSuites sets it, and must run before the member starts.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace cairn::tls {

// The OpenSSL cipher list ("ECDHE-RSA-AES128-GCM-SHA256:...") for a comma-separated list of
// etcd's names. Errors: a name etcd does not know (etcd's words: unexpected TLS cipher suite
// "X"), or one this build's OpenSSL cannot use (RC4 and 3DES are disabled in Debian's).
absl::StatusOr<std::string> OpenSslCipherList(const std::string& etcd_names);

// Makes gRPC use `openssl_list` for every TLS 1.2 connection of this process.
void UseCipherSuites(const std::string& openssl_list);

}  // namespace cairn::tls
