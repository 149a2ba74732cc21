#include "server/peer/channel.h"

#include "cairnpb/peer.grpc.pb.h"

#include <grpc/grpc.h>

namespace cairn::peer {
namespace {

// A ping every 10 s on an idle connection; no answer within 5 s closes it.
constexpr int kKeepaliveTimeMs = 10'000;
constexpr int kKeepaliveTimeoutMs = 5'000;
// The listener's floor for ping intervals; below the senders' interval so they are never punished.
constexpr int kMinPingIntervalMs = 5'000;

}  // namespace

std::shared_ptr<grpc::Channel> MakePeerChannel(const std::string& address,
                                               const std::shared_ptr<grpc::ChannelCredentials>& tls) {
  std::string host_port = address;
  bool secure = false;
  if (const size_t scheme = address.find("://"); scheme != std::string::npos) {
    secure = address.compare(0, scheme, "https") == 0;
    host_port = address.substr(scheme + 3);
  }
  if (const size_t slash = host_port.find('/'); slash != std::string::npos) host_port.resize(slash);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  // gRPC uses the "minimum backoff" as the time one connection attempt may take.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5'000);
  args.SetMaxReceiveMessageSize(kMaxPeerMessageBytes);
  // Each peer gets its own connection even when two peers' channels would otherwise be shared.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (secure) credentials = tls != nullptr ? tls : grpc::SslCredentials(grpc::SslCredentialsOptions());
  return grpc::CreateCustomChannel(host_port, credentials, args);
}

absl::StatusOr<cairnpb::MembersResponse> FetchMembers(const std::string& address, absl::Duration timeout,
                                                      const std::shared_ptr<grpc::ChannelCredentials>& tls) {
  auto stub = cairnpb::Peer::NewStub(MakePeerChannel(address, tls));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(true);  // a peer still starting is waited for, up to the deadline
  cairnpb::MembersResponse response;
  grpc::Status status = stub->Members(&context, cairnpb::MembersRequest(), &response);
  if (!status.ok()) return ToAbsl(status);
  return response;
}

absl::StatusOr<cairnpb::PeerHashKVResponse> FetchHashKV(const std::string& address, uint64_t cluster_id,
                                                        int64_t revision, absl::Duration timeout,
                                                        const std::shared_ptr<grpc::ChannelCredentials>& tls) {
  auto stub = cairnpb::Peer::NewStub(MakePeerChannel(address, tls));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  cairnpb::PeerHashKVRequest request;
  request.set_cluster_id(cluster_id);
  request.set_revision(revision);
  cairnpb::PeerHashKVResponse response;
  grpc::Status status = stub->HashKV(&context, request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response;
}

void ConfigurePeerServer(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kMaxPeerMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, kMinPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace cairn::peer
