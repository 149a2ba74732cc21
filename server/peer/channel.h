// Connections between members: the client channel to one peer, the settings the peer listener
// needs to accept it, and the status mapping across the hop.
//
// An address is "host:port" or a peer URL: "http://host:port" dials plaintext HTTP/2,
// "https://host:port" dials TLS with the credentials given (null: TLS verified against the
// system's roots, presenting no certificate). Channels reconnect on their own with a short
// backoff (50 ms .. 1 s) so a peer that comes back is reached quickly, and send keepalive pings so
// a peer that vanished without closing its connections (power loss, partition) is noticed and
// blocked writes fail instead of waiting forever.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cairnpb/peer.pb.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace cairn::peer {

// Metadata key carrying the sender's cluster ID on calls whose messages have no field for it
// (the forwarded lease calls). Lower-case hex.
inline constexpr char kClusterIdMetadata[] = "cairn-cluster-id";

// The largest message the peer listener accepts: a batch of raft appends or a snapshot chunk.
inline constexpr int kMaxPeerMessageBytes = 64 << 20;

// A channel to `address` with the peer keepalive and reconnect settings. Never null.
std::shared_ptr<grpc::Channel> MakePeerChannel(const std::string& address,
                                               const std::shared_ptr<grpc::ChannelCredentials>& tls = nullptr);

// Asks the member at `address` for its cluster ID and membership (Peer.Members), once, within
// `timeout`. For a member joining an existing cluster.
absl::StatusOr<cairnpb::MembersResponse> FetchMembers(const std::string& address, absl::Duration timeout,
                                                      const std::shared_ptr<grpc::ChannelCredentials>& tls = nullptr);

// Asks the member at `address` for its HashKV at `revision` (Peer.HashKV), once, within
// `timeout`. Does not wait for a peer that cannot be reached: that fails at once (UNAVAILABLE).
// The store's errors come back as they are (OUT_OF_RANGE future revision / compacted).
absl::StatusOr<cairnpb::PeerHashKVResponse> FetchHashKV(const std::string& address, uint64_t cluster_id,
                                                        int64_t revision, absl::Duration timeout,
                                                        const std::shared_ptr<grpc::ChannelCredentials>& tls = nullptr);

// Applies to the member's peer listener what the peer channels rely on: it accepts their
// keepalive pings (gRPC's default answers frequent pings with GOAWAY "too_many_pings") and
// messages up to kMaxPeerMessageBytes (default 4 MiB). Call before BuildAndStart().
void ConfigurePeerServer(grpc::ServerBuilder& builder);

// absl and gRPC share status code numbers; code and message pass through unchanged, so etcd's
// error strings (e.g. "etcdserver: requested lease not found") survive the hop.
grpc::Status ToGrpc(const absl::Status& status);
absl::Status ToAbsl(const grpc::Status& status);

}  // namespace cairn::peer
