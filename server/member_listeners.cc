#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "server/listener_tls.h"
#include "server/member_parts.h"
#include "server/peer/channel.h"

namespace cairn::server {

// The client port: etcd's services over gRPC, and (on http:// URLs) HTTP/1 beside them.
absl::Status Member::StartClientServer(Parts* p, const Config& config, const ListenerTls& client_tls) {
  grpc::ServerBuilder builder;
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(p->metrics->grpc()->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  p->client_ports.assign(config.listen_client_urls.size(), 0);
  // gRPC listens on the https:// URLs itself; cairnd accepts the http:// ones (ClientPort) and
  // hands their gRPC connections over, serving HTTP/1 (health, metrics, JSON gateway) beside them.
  std::vector<Endpoint> plaintext_urls;
  std::vector<size_t> plaintext_index;
  for (size_t i = 0; i < config.listen_client_urls.size(); ++i) {
    const Endpoint& url = config.listen_client_urls[i];
    if (url.scheme == "https") {
      builder.AddListeningPort(url.HostPort(), client_tls.For(url), &p->client_ports[i]);
    } else {
      plaintext_urls.push_back(url);
      plaintext_index.push_back(i);
    }
  }
  Parts* parts = p;
  if (!plaintext_urls.empty()) {
    ClientPortOptions port_options;
    port_options.providers = MakeHttpProviders(p);
    port_options.max_request_bytes = config.max_request_bytes;
    port_options.in_process_channel = [parts] {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      return parts->grpc_server->InProcessChannel(args);
    };
    auto client_port = ClientPort::Bind(plaintext_urls, std::move(port_options));
    if (!client_port.ok()) return client_port.status();
    p->client_port = std::move(*client_port);
    for (size_t j = 0; j < plaintext_index.size(); ++j) p->client_ports[plaintext_index[j]] = p->client_port->ports()[j];
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<int64_t>(INT_MAX, config.max_request_bytes + kGrpcOverheadBytes)));
  builder.SetMaxSendMessageSize(INT_MAX);
  // etcd clients ping idle connections every few seconds; refusing them would drop the client.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(std::min<int64_t>(INT_MAX, config.grpc_keepalive_min_time_ms)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(std::min<int64_t>(INT_MAX, config.grpc_keepalive_interval_ms)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(std::min<int64_t>(INT_MAX, config.grpc_keepalive_timeout_ms)));
  if (config.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(std::min<int64_t>(INT_MAX, config.max_concurrent_streams)));
  }
  builder.RegisterService(p->kv.get());
  builder.RegisterService(p->maintenance.get());
  builder.RegisterService(p->cluster.get());
  builder.RegisterService(p->watch.get());
  builder.RegisterService(p->lease.get());
  builder.RegisterService(p->auth.get());
  p->health = std::make_unique<HealthService>();
  builder.RegisterService(p->health.get());
  p->concurrency_backend = std::make_shared<concurrency::Backend>(
      [parts] { return parts->grpc_server->InProcessChannel(grpc::ChannelArguments()); });
  p->lock = std::make_unique<concurrency::LockService>(p->concurrency_backend);
  p->election = std::make_unique<concurrency::ElectionService>(p->concurrency_backend);
  builder.RegisterService(p->lock.get());
  builder.RegisterService(p->election.get());
  builder.RegisterCallbackGenericService(p->unimplemented.get());
  p->grpc_server = builder.BuildAndStart();
  if (p->grpc_server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot start the gRPC server on ",
                                               config.listen_client_urls[0].HostPort()));
  }
  if (p->client_port) p->client_port->Serve(p->grpc_server.get());
  for (size_t i = 0; i < p->client_ports.size(); ++i) {
    if (p->client_ports[i] == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", config.listen_client_urls[i].HostPort()));
    }
  }
  return absl::OkStatus();
}

absl::Status Member::StartPeerServer(Parts* p, const Config& config, const ListenerTls& peer_tls) {
  // The peer port carries raft traffic, store images and forwarded lease calls between members.
  grpc::ServerBuilder peer_builder;
  peer::ConfigurePeerServer(peer_builder);
  peer_builder.RegisterService(p->transport->service());
  p->peer_ports.assign(config.listen_peer_urls.size(), 0);
  for (size_t i = 0; i < config.listen_peer_urls.size(); ++i) {
    peer_builder.AddListeningPort(config.listen_peer_urls[i].HostPort(), peer_tls.For(config.listen_peer_urls[i]),
                                  &p->peer_ports[i]);
  }
  p->peer_unimplemented = std::make_unique<UnimplementedService>();
  peer_builder.RegisterCallbackGenericService(p->peer_unimplemented.get());
  p->peer_server = peer_builder.BuildAndStart();
  for (size_t i = 0; i < p->peer_ports.size(); ++i) {
    if (p->peer_server == nullptr || p->peer_ports[i] == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for peers on ", config.listen_peer_urls[i].HostPort()));
    }
  }
  return absl::OkStatus();
}

HttpProviders Member::MakeHttpProviders(Parts* p) {
  HttpProviders providers;
  providers.version_json = absl::StrCat("{\"etcdserver\":\"", kApiVersion, "\",\"etcdcluster\":\"",
                                        kApiVersion, "\"}");
  providers.health = [p]() -> std::string {
    std::string reason;
    if (p->pipeline->NoSpaceAlarm()) {
      reason = "ALARM NOSPACE";
    } else if (p->pipeline->CorruptAlarm()) {
      reason = "ALARM CORRUPT";
    } else if (p->pipeline->Leader() == 0) {
      reason = "RAFT NO LEADER";
    }
    p->metrics->CountHealth(reason.empty());
    return reason;
  };
  providers.metrics = [p]() { return p->metrics->Render(); };
  return providers;
}

}  // namespace cairn::server
