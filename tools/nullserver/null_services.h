// cairn-nullserver: the etcd v3 KV, Watch and Lease services answering at once without
// storing anything. It is the ceiling cairn-bench figures are read against: the cost of
// gRPC itself (framing, HTTP/2, protobuf, threads) on this machine, with no store behind it.
//
// What it answers: Range → empty result; Put → a header with a fresh revision, and the
// put is handed to every watch whose range holds the key (a minimal fan-out, no history,
// no filters, so the watch ceiling is the cost of delivering events over gRPC streams);
// Txn → succeeded with one empty response per success op; LeaseGrant → a new ID with the
// asked TTL; LeaseRevoke → OK; LeaseKeepAlive → echoes the ID with the TTL of 60 s.
//
// With a sync file, every Put and Txn is answered only once its request is appended to that file
// and fdatasync'ed, with group commit (concurrent writes share one sync): the ceiling of a server
// whose only work is the durable write every store must do. The file is zero-filled first, as
// Cairn's log segments are, so each sync flushes data only.
//
// Thread safety: RunNullServer blocks; everything inside is driven by gRPC's threads.
#ifndef CAIRN_TOOLS_NULLSERVER_NULL_SERVICES_H_
#define CAIRN_TOOLS_NULLSERVER_NULL_SERVICES_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace cairn::nullserver {

struct NullServerOptions {
  std::string address = "127.0.0.1:2379";  // host:port; port 0 picks one
  std::string sync_file;                   // empty: writes are not synced
};

// Serves until `wait_for_stop` returns. `on_listening` is called with the bound port once the
// server accepts connections. Fails if it cannot listen or cannot prepare the sync file.
absl::Status RunNullServer(const NullServerOptions& options, const std::function<void(int port)>& on_listening,
                           const std::function<void()>& wait_for_stop);

}  // namespace cairn::nullserver

#endif  // CAIRN_TOOLS_NULLSERVER_NULL_SERVICES_H_
