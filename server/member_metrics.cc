#include "server/member_metrics.h"

#include <cstdio>

#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/lease/lessor.h"
#include "server/maintenance_service.h"
#include "server/membership.h"
#include "server/metrics/process_metrics.h"
#include "server/peer/peer_transport.h"
#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

using metrics::MetricType;

// The client-port services whose calls are counted; every method is listed at 0 from the start.
const std::vector<std::string>& CountedServices() {
  static const std::vector<std::string> services = {
      "etcdserverpb.KV",   "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Cluster",
      "etcdserverpb.Maintenance", "etcdserverpb.Auth", "v3lockpb.Lock", "v3electionpb.Election"};
  return services;
}

std::string HexId(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace

MemberMetrics::MemberMetrics() {
  metrics::Registry* r = &registry_;
  grpc_ = std::make_unique<metrics::GrpcServerMetrics>(r, CountedServices());
  metrics::RegisterProcessMetrics(r);
  // etcd's disk latency buckets: 1 ms .. 8.192 s, doubling.
  wal_fsync_seconds_ = r->AddHistogram("etcd_disk_wal_fsync_duration_seconds",
                                       "The latency distributions of fsync called by WAL.",
                                       metrics::ExponentialBuckets(0.001, 2, 14));
  backend_commit_seconds_ = r->AddHistogram("etcd_disk_backend_commit_duration_seconds",
                                            "The latency distributions of commit called by backend.",
                                            metrics::ExponentialBuckets(0.001, 2, 14));
  lease_ttl_seconds_ = r->AddHistogram("etcd_debugging_lease_ttl_total", "Bucketed histogram of lease TTLs.",
                                       metrics::ExponentialBuckets(1, 2, 24));
  leases_granted_ = r->AddCounter("etcd_debugging_lease_granted_total", "The total number of granted leases.");
  leases_revoked_ = r->AddCounter("etcd_debugging_lease_revoked_total", "The total number of revoked leases.");
  health_success_ =
      r->AddCounter("etcd_server_health_success", "The total number of successful health checks");
  health_failures_ = r->AddCounter("etcd_server_health_failures", "The total number of failed health checks");
}

MemberMetrics::~MemberMetrics() = default;

void MemberMetrics::CountLeaseChange(const LeaseChange& change) {
  if (change.kind == LeaseChange::kGranted) {
    leases_granted_->Inc();
    lease_ttl_seconds_->Observe(static_cast<double>(change.ttl));
  } else if (change.kind == LeaseChange::kRevoked) {
    leases_revoked_->Inc();
  }
}

void MemberMetrics::CountHealth(bool healthy) { (healthy ? health_success_ : health_failures_)->Inc(); }

void MemberMetrics::Attach(const MemberMetricSources& s) {
  metrics::Registry* r = &registry_;
  const mvcc::Store* store = s.store;
  const WritePipeline* pipeline = s.pipeline;
  wal::Wal* wal = s.wal;
  const uint64_t self = s.member_id;
  auto gauge = [r](const char* name, const char* help, std::function<double()> read, metrics::Labels labels = {}) {
    r->AddFunction(name, help, MetricType::kGauge, std::move(read), std::move(labels));
  };
  auto counter = [r](const char* name, const char* help, std::function<double()> read) {
    r->AddFunction(name, help, MetricType::kCounter, std::move(read));
  };

  // Server and raft.
  gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
        [pipeline] { return pipeline->Leader() != 0 ? 1.0 : 0.0; });
  gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        [pipeline, self] { return pipeline->Leader() == self ? 1.0 : 0.0; });
  gauge("etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
        [pipeline, self] {
          const cairnpb::Membership membership = pipeline->Membership();
          const cairnpb::MemberRecord* me = FindMember(membership, self);
          return me != nullptr && me->is_learner() ? 1.0 : 0.0;
        });
  counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
          [pipeline] { return static_cast<double>(pipeline->LeaderChanges()); });
  // etcd declares these two as gauges: they are raft's commit and applied indexes.
  gauge("etcd_server_proposals_committed_total", "The total number of consensus proposals committed.",
        [pipeline] { return static_cast<double>(pipeline->CommitIndex()); });
  gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.",
        [store] { return static_cast<double>(store->AppliedIndex()); });
  gauge("etcd_server_proposals_pending", "The current number of pending proposals to commit.",
        [pipeline] { return static_cast<double>(pipeline->ProposalsPending()); });
  counter("etcd_server_proposals_failed_total", "The total number of failed proposals seen.",
          [pipeline] { return static_cast<double>(pipeline->ProposalsFailed()); });
  counter("etcd_server_slow_apply_total",
          "The total number of slow apply requests (likely overloaded from slow disk).",
          [pipeline] { return static_cast<double>(pipeline->SlowApplies()); });
  const double quota = static_cast<double>(s.quota_bytes);
  gauge("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.", [quota] { return quota; });
  gauge("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
        [] { return 1.0; }, {{"server_id", HexId(self)}});
  gauge("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.",
        [] { return 1.0; }, {{"server_version", kApiVersion}});
  const std::string api(kApiVersion);
  gauge("etcd_cluster_version",
        "Which version is running. 1 for 'cluster_version' label with current cluster version",
        [] { return 1.0; }, {{"cluster_version", api.substr(0, api.rfind('.'))}});

  // Disk: the histograms are observed by the pipeline; etcd declares the WAL byte count a gauge.
  gauge("etcd_disk_wal_write_bytes_total", "Total number of bytes written in WAL.",
        [wal] { return static_cast<double>(wal->stats().bytes_written); });

  // MVCC. etcd 3.4 serves the etcd_debugging_mvcc_* copies too (deprecated there, kept for old dashboards).
  for (const char* prefix : {"etcd_mvcc_", "etcd_debugging_mvcc_"}) {
    const std::string p(prefix);
    r->AddFunction(p + "put_total", "Total number of puts seen by this member.", MetricType::kCounter,
                   [store] { return static_cast<double>(store->op_counts().puts); });
    r->AddFunction(p + "delete_total", "Total number of deletes seen by this member.", MetricType::kCounter,
                   [store] { return static_cast<double>(store->op_counts().deletes); });
    r->AddFunction(p + "range_total", "Total number of ranges seen by this member.", MetricType::kCounter,
                   [store] { return static_cast<double>(store->op_counts().ranges); });
    r->AddFunction(p + "txn_total", "Total number of txns seen by this member.", MetricType::kCounter,
                   [store] { return static_cast<double>(store->op_counts().txns); });
    r->AddFunction(p + "db_total_size_in_bytes",
                   "Total size of the underlying database physically allocated in bytes.", MetricType::kGauge,
                   [store] { return static_cast<double>(store->DbSize()); });
  }
  gauge("etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.",
        [store] { return static_cast<double>(store->DbSizeInUse()); });
  gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.",
        [store] { return static_cast<double>(store->CurrentRevision()); });
  gauge("etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.",
        [store] { return static_cast<double>(store->CompactedRevision()); });

  // Leases: renewals are counted by the leader's lessor; expiries are the revokes it proposed for
  // expired leases, less those the log refused.
  if (const lease::Lessor* lessor = s.lessor; lessor != nullptr) {
    counter("etcd_debugging_lease_renewed_total", "The number of renewed leases seen by the leader.",
            [lessor] { return static_cast<double>(lessor->Stats().renewals); });
    counter("etcd_debugging_server_lease_expired_total", "The total number of expired leases.", [lessor] {
      const lease::LessorStats st = lessor->Stats();
      return static_cast<double>(st.revokes_proposed - st.revokes_failed);
    });
  }

  // Peers, labelled by member ID in hex as etcd does.
  if (const peer::PeerTransport* transport = s.transport; transport != nullptr) {
    const std::string local = HexId(self);
    r->AddCollector("etcd_network_active_peers", "The current number of active peer connections.",
                    MetricType::kGauge, [transport, local](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"Local", local}, {"Remote", HexId(p.id)}}, p.connected ? 1 : 0);
                      }
                    });
    r->AddCollector("etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.",
                    MetricType::kCounter, [transport](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"To", HexId(p.id)}}, static_cast<double>(p.bytes_sent));
                      }
                    });
    r->AddCollector("etcd_network_peer_received_bytes_total", "The total number of bytes received from peers.",
                    MetricType::kCounter, [transport](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"From", HexId(p.id)}}, static_cast<double>(p.bytes_received));
                      }
                    });
    r->AddCollector("etcd_network_peer_sent_failures_total", "The total number of send failures from peers.",
                    MetricType::kCounter, [transport](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"To", HexId(p.id)}}, static_cast<double>(p.messages_dropped));
                      }
                    });
    r->AddCollector("etcd_network_snapshot_send_success", "Total number of successful snapshot sends",
                    MetricType::kCounter, [transport](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"To", HexId(p.id)}}, static_cast<double>(p.snapshots_sent));
                      }
                    });
    r->AddCollector("etcd_network_snapshot_send_failures", "Total number of snapshot send failures",
                    MetricType::kCounter, [transport](metrics::SampleSink* sink) {
                      for (const peer::PeerStats& p : transport->Stats().peers) {
                        sink->Add({{"To", HexId(p.id)}}, static_cast<double>(p.snapshots_failed));
                      }
                    });
  }

  // cairnd's own, kept for what etcd's names do not say (and for existing users of them).
  gauge("cairn_server_raft_term", "Current raft term.", [pipeline] { return static_cast<double>(pipeline->Term()); });
  gauge("cairn_server_nospace_alarm", "1 while a NOSPACE alarm is in the cluster's alarm set.",
        [pipeline] { return pipeline->NoSpaceAlarm() ? 1.0 : 0.0; });
  gauge("cairn_server_corrupt_alarm", "1 while a CORRUPT alarm is in the cluster's alarm set.",
        [pipeline] { return pipeline->CorruptAlarm() ? 1.0 : 0.0; });
  counter("cairn_server_write_batches_total", "Write batches committed (one fdatasync each).",
          [pipeline] { return static_cast<double>(pipeline->BatchesCommitted()); });
  counter("cairn_server_writes_total", "Write requests committed.",
          [pipeline] { return static_cast<double>(pipeline->WritesCommitted()); });
  counter("cairn_wal_fsyncs_total", "fdatasync calls on the write-ahead log.",
          [wal] { return static_cast<double>(wal->stats().syncs); });
  gauge("cairn_wal_segments", "Write-ahead log segment files.",
        [wal] { return static_cast<double>(wal->stats().live_segments); });
}

}  // namespace cairn::server
