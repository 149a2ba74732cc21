// cairn::server::MemberMetrics — the member's metrics registry with etcd 3.4's metric names, types,
// labels and buckets (so etcd's dashboards and alerts work unchanged), plus cairnd's own cairn_*.
//
// Who updates what: the write pipeline observes the two disk histograms (it owns the fsync and the
// store commit) and keeps its own counters (leader changes, failed/pending proposals, slow applies);
// the store counts its operations; the lessor, the WAL and the peer transport keep their stats; the
// gRPC interceptor counts calls. This class registers functions that read those at scrape time and
// counts the few things the member itself sees (lease grants/revokes as applied, /health answers).
// Render() is all the HTTP endpoint calls.
//
// Lifetime: created first, destroyed last by the member (the gRPC server's interceptor and the HTTP
// endpoint refer to it); Attach() once every source exists; the sources must outlive every Render().
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/applier.h"
#include "server/metrics/grpc_metrics.h"
#include "server/metrics/registry.h"

namespace cairn::mvcc { class Store; }
namespace cairn::wal { class Wal; }
namespace cairn::lease { class Lessor; }
namespace cairn::peer { class PeerTransport; }

namespace cairn::server {

class WritePipeline;

struct MemberMetricSources {
  uint64_t member_id = 0;
  int64_t quota_bytes = 0;
  const mvcc::Store* store = nullptr;
  const WritePipeline* pipeline = nullptr;
  wal::Wal* wal = nullptr;
  const lease::Lessor* lessor = nullptr;
  const peer::PeerTransport* transport = nullptr;  // may be null
};

class MemberMetrics {
 public:
  MemberMetrics();
  ~MemberMetrics();

  metrics::Registry* registry() { return &registry_; }
  metrics::GrpcServerMetrics* grpc() { return grpc_.get(); }
  // For WritePipeline::Options.
  metrics::Histogram* wal_fsync_seconds() const { return wal_fsync_seconds_; }
  metrics::Histogram* backend_commit_seconds() const { return backend_commit_seconds_; }

  // Registers every metric read from the member's parts. Once.
  void Attach(const MemberMetricSources& sources);

  // A lease change applied on this member (every member applies them, as etcd's lessors do).
  void CountLeaseChange(const LeaseChange& change);
  // One /health answer.
  void CountHealth(bool healthy);

  std::string Render() const { return registry_.Render(); }

 private:
  metrics::Registry registry_;
  std::unique_ptr<metrics::GrpcServerMetrics> grpc_;
  metrics::Histogram* wal_fsync_seconds_ = nullptr;
  metrics::Histogram* backend_commit_seconds_ = nullptr;
  metrics::Histogram* lease_ttl_seconds_ = nullptr;
  metrics::Counter* leases_granted_ = nullptr;
  metrics::Counter* leases_revoked_ = nullptr;
  metrics::Counter* health_success_ = nullptr;
  metrics::Counter* health_failures_ = nullptr;
};

}  // namespace cairn::server
