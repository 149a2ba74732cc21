// The TLS of one listener family (clients or peers) as the member uses it: which gRPC credentials
// each of its listen URLs gets, and the credentials for dialing https URLs of that family. Built
// from the TLS flags (server/tls does the file work). Plain immutable data after PrepareTls.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/tls/tls_files.h"

namespace cairn::server {

struct ListenerTls {
  std::shared_ptr<grpc::ServerCredentials> server;    // null: no https listener of this family
  std::shared_ptr<grpc::ChannelCredentials> channel;  // null: dial https against the system's roots

  // TLS for an https URL, plaintext for an http one.
  std::shared_ptr<grpc::ServerCredentials> For(const Endpoint& e) const {
    return e.scheme == "https" ? server : grpc::InsecureServerCredentials();
  }
};

// Reads and checks the family's files (errors name the flag and file, so call it before touching
// the data) or makes its auto-tls pair in `auto_tls_dir` (etcd keeps them in
// <data-dir>/fixtures/{client,peer}/). `flag_prefix`: "" or "peer-". `dials`: the family also
// dials (peers do; cairnd never dials its own client URLs).
absl::StatusOr<ListenerTls> PrepareTls(const tls::TlsFiles& files, const std::string& flag_prefix,
                                       const std::vector<Endpoint>& listen, const std::string& auto_tls_dir,
                                       bool dials);

}  // namespace cairn::server
