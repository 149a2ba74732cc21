// Maintenance.Snapshot: streams a consistent image of the store to a client, in etcd 3.4's shape, so
// `etcdctl snapshot save` works against cairnd. The file a client assembles is described in
// server/restore.h: the image (mvcc::Store::CopyTo), then its SHA-256 as the last 32 bytes.
//
// Each call gets one worker thread that copies the store into a scratch file (concurrently with the
// writer; the image is the last committed state), then reads it in 32 KiB chunks. The scratch file
// is unlinked as soon as it is open, so nothing is left behind however the call ends. Writes follow
// gRPC flow control: one in flight at a time, the next chunk read while the previous one is sent.
// Responses carry remaining_bytes as etcd fills it (image bytes not yet sent; 0 on the digest) and,
// like etcd 3.4's, no header: a header's revision would be the server's at sending time, not the
// image's, and could be mistaken for it.
//
// A cancelled call (client gone, deadline, server shutdown) stops after the current copy or write
// and finishes CANCELLED; the reactor deletes itself once gRPC is done with it and its thread has
// ended. Errors of the copy or reads finish the call with their status (server/errors.h mapping).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvcc/store.h"

namespace cairn::server {

struct SnapshotStreamOptions {
  const mvcc::Store* store = nullptr;  // must outlive the call (the gRPC server's Wait covers it)
  std::string scratch_dir;             // where the image is written while it streams; must exist
  size_t chunk_bytes = 32 * 1024;      // etcd's send buffer
};

// The reactor for one Snapshot call; owns itself.
grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* StartSnapshotStream(SnapshotStreamOptions options);

// Removes scratch images a previous process left in `scratch_dir` (killed during a copy, before
// the file could be unlinked). Call at start-up, before any Snapshot call; other files are kept.
void RemoveStaleSnapshotScratch(const std::string& scratch_dir);

}  // namespace cairn::server
