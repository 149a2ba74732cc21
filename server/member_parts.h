// What a running member is made of (Member::Parts), shared by the files that build it: member.cc
// (the wiring and the order of start-up and shutdown) and member_listeners.cc (the client and
// peer gRPC servers and the HTTP providers). Private to the member; nothing else includes it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/auth/auth_service.h"
#include "server/auth/authority.h"
#include "server/auto_compactor.h"
#include "server/client_port.h"
#include "server/concurrency/backend.h"
#include "server/concurrency/election_service.h"
#include "server/concurrency/lock_service.h"
#include "server/corruption_check.h"
#include "server/data_dir.h"
#include "server/health_service.h"
#include "server/http_endpoint.h"
#include "server/kv_service.h"
#include "server/lease/lease_records.h"
#include "server/lease/lease_service.h"
#include "server/lease/lessor.h"
#include "server/lease_forwarding.h"
#include "server/maintenance_service.h"
#include "server/member.h"
#include "server/member_metrics.h"
#include "server/membership.h"
#include "server/peer/peer_transport.h"
#include "server/reconfig_check.h"
#include "server/unimplemented_service.h"
#include "server/watch/event_history.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_service.h"
#include "server/write_pipeline.h"

namespace cairn::server {

// gRPC's own framing on top of the largest request we accept, as etcd allows for it.
inline constexpr int kGrpcOverheadBytes = 512 * 1024;

// The watch hub reads history through this narrow view of the store.
class StoreHistory final : public watch::EventHistory {
 public:
  explicit StoreHistory(const mvcc::Store* store) : store_(store) {}
  absl::Status ReadEvents(const std::string& key, const std::string& range_end, int64_t from_rev,
                          size_t max_events, std::vector<mvccpb::Event>* out, int64_t* next_rev) const override {
    return store_->ReadEvents(key, range_end, from_rev, max_events, out, next_rev);
  }
  int64_t CurrentRevision() const override { return store_->CurrentRevision(); }
  int64_t CompactedRevision() const override { return store_->CompactedRevision(); }

 private:
  const mvcc::Store* store_;
};

struct Member::Parts {
  // First, so destroyed last: the gRPC server's interceptor and the HTTP endpoint use it.
  std::unique_ptr<MemberMetrics> metrics = std::make_unique<MemberMetrics>();
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<mvcc::Store> store;
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<WritePipeline> pipeline;
  // After the pipeline (destroyed first): it delivers peers' messages into the pipeline.
  std::unique_ptr<peer::PeerTransport> transport;
  std::unique_ptr<PeerLeaseForwarder> lease_forwarder;
  // Membership changes are checked against the leader's view before they are proposed.
  std::unique_ptr<MembershipChangeChecker> change_checker;
  // Compacts on its own when --auto-compaction-retention is set; null otherwise.
  std::unique_ptr<AutoCompactor> auto_compactor;
  // Compares the members' hashes when --experimental-corrupt-check-time is set; null otherwise.
  std::unique_ptr<CorruptionMonitor> corruption_monitor;
  // Watches for this member's removal while it hears no leader (see StartRemovalWatch).
  std::thread removal_watch;
  std::mutex removal_watch_mu;
  std::condition_variable removal_watch_wake;
  bool removal_watch_stop = false;
  // Declared after the store and before the services: destroyed after them, before the store.
  std::unique_ptr<StoreHistory> history;
  // Read by every service below; loaded at start-up and reloaded by the writer after auth changes.
  std::unique_ptr<auth::Authority> authority;
  std::unique_ptr<watch::WatchHub> watch_hub;
  std::unique_ptr<watch::WatchService> watch;
  std::unique_ptr<lease::LeaseRecords> lease_records;
  std::unique_ptr<lease::Lessor> lessor;
  std::unique_ptr<lease::LeaseService> lease;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<MaintenanceService> maintenance;
  std::unique_ptr<ClusterService> cluster;
  std::unique_ptr<auth::AuthService> auth;
  std::unique_ptr<HealthService> health;  // grpc.health.v1, as etcd serves it
  std::unique_ptr<UnimplementedService> unimplemented;
  // Lock and Election are clients of this member's own KV/Lease/Watch, through an in-process
  // channel that exists once the server has started (etcd's server builds them the same way).
  std::shared_ptr<concurrency::Backend> concurrency_backend;
  std::unique_ptr<concurrency::LockService> lock;
  std::unique_ptr<concurrency::ElectionService> election;
  std::unique_ptr<grpc::Server> grpc_server;
  // The http:// client URLs' sockets: gRPC connections are handed from it to grpc_server.
  std::unique_ptr<ClientPort> client_port;
  std::vector<std::unique_ptr<HttpEndpoint>> http;
  std::unique_ptr<UnimplementedService> peer_unimplemented;
  std::unique_ptr<grpc::Server> peer_server;
  std::vector<int> peer_ports;
  std::vector<int> client_ports;
  std::vector<int> metrics_ports;
  std::shared_ptr<grpc::ChannelCredentials> peer_dial_tls;  // null: https peers against system roots

  // Stops everything in dependency order; also runs when start-up fails half way.
  void Stop();
  ~Parts() { Stop(); }
  int64_t quota_bytes = 0;
  bool stopped = false;
};

}  // namespace cairn::server
