// Applies one logged request to the store: the only code that turns log entries into data.
// Used by the write pipeline for new writes and for replay after a restart, so both take exactly
// the same path. Runs on the writer thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "google/protobuf/message.h"
#include "mvcc/store.h"

namespace cairn::server {

// Identity stamped on every response header besides the revision (which the store sets).
struct HeaderInfo {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  uint64_t raft_term = 0;
  // When set, the current term is read from here (the write pipeline's) instead of raft_term.
  const std::atomic<uint64_t>* raft_term_source = nullptr;
};

// What applying a request changed beyond the key space, for the lessor to follow.
struct LeaseChange {
  enum Kind { kGranted, kRevoked, kCheckpointed } kind;
  int64_t id = 0;
  int64_t ttl = 0;  // kGranted: the TTL; kCheckpointed: the remaining TTL (0 clears)
};

// Applies `request` inside `batch`. `response` must be the response type matching the request
// (PutResponse for put, ...) or null when nobody waits (replay). A returned error means the request
// had no effect; the batch stays usable.
// Lease grants, revocations and checkpoints that succeeded are appended to `lease_changes` (may be
// null).
absl::Status ApplyLogRequest(mvcc::WriteBatch* batch, const cairnpb::LogRequest& request,
                             google::protobuf::Message* response,
                             std::vector<LeaseChange>* lease_changes = nullptr);

// Sets cluster_id, member_id and raft_term; the revision is left as the store set it. Inline so
// that the libraries below cairn_server (lease, watch) stamp headers the same way.
inline void StampHeader(const HeaderInfo& info, etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(info.cluster_id);
  header->set_member_id(info.member_id);
  header->set_raft_term(info.raft_term_source != nullptr ? info.raft_term_source->load(std::memory_order_relaxed)
                                                         : info.raft_term);
}

}  // namespace cairn::server
