// cairnd's configuration: etcd's flag names, defaults and meaning, so an etcd operator can switch by
// changing the binary name. Parsing is pure (no I/O) and returns an error naming the bad flag.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/compaction_schedule.h"
#include "server/tls/tls_files.h"

namespace cairn::server {

// A listen or advertise URL split into its parts ("http://127.0.0.1:2379").
struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;
  int port = 0;
  std::string HostPort() const;  // "127.0.0.1:2379", the form gRPC listens on
};

struct Config {
  std::string name = "default";
  std::string data_dir;  // empty: "<name>.cairn" in the working directory
  std::string wal_dir;   // the raft log's directory; empty: <data-dir>/member/wal (server/data_dir.h)
  std::vector<Endpoint> listen_client_urls;
  std::vector<std::string> advertise_client_urls;
  std::vector<Endpoint> listen_peer_urls;
  std::vector<std::string> initial_advertise_peer_urls;
  std::string initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  // etcd's --discovery-srv and --discovery-srv-name: a member's first start takes the founding
  // members (or, with --initial-cluster-state existing, the members to ask) from the domain's DNS
  // SRV records (server/discovery) instead of --initial-cluster; the two are exclusive.
  std::string discovery_srv;
  std::string discovery_srv_name;
  // Set by Member::Start once --initial-cluster was filled from SRV records: the members' IDs then
  // come from their peer URLs and the token alone, since each member knows only its own name.
  bool founders_from_srv = false;
  // etcd's --force-new-cluster: a member restarting on its data dir becomes the only member of its
  // cluster, keeping what it knows was committed (server/force_new_cluster.h). Ignored on a new one.
  bool force_new_cluster = false;
  std::vector<Endpoint> listen_metrics_urls;
  // TLS for https:// listen URLs and for what this member dials (server/tls). http:// URLs stay
  // plaintext whatever these say. Checked here: every https listener has a key pair or auto-tls.
  tls::TlsFiles client_tls;  // --cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --auto-tls
  tls::TlsFiles peer_tls;    // the same flags with "peer-" in front
  int64_t max_request_bytes = 1536 * 1024;
  int64_t max_txn_ops = 128;
  int64_t quota_backend_bytes = 0;  // 0: the default quota (2 GiB, as etcd)
  // false: LMDB commits without fsync; the WAL (always fdatasync'ed) is the durability point and
  // the store is synced once a second and when the log rolls. true: every LMDB commit also syncs its
  // data pages, so even a power loss cannot leave a damaged LMDB file, at the cost of a second sync
  // per write batch.
  bool backend_fsync = false;
  int64_t heartbeat_interval_ms = 100;
  int64_t election_timeout_ms = 1000;
  int64_t snapshot_catchup_entries = 5000;  // applied entries kept in memory for slow followers
  int64_t watch_batch_interval_ms = 20;     // pacing of heavy watch fan-out (watch::HubOptions)
  // etcd's --experimental-enable-lease-checkpoint: the leader records leases' remaining TTLs so a
  // leader change or restart does not give them a full TTL again (lease::LessorOptions).
  bool lease_checkpoint = false;
  int64_t lease_checkpoint_interval_ms = 5 * 60 * 1000;
  // etcd's --auto-compaction-mode and --auto-compaction-retention as given ("0" is off), and what
  // ParseFlags made of them (server/compaction_schedule.h).
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
  CompactionRetention auto_compaction;
  std::string log_level = "info";
  // --cipher-suites as OpenSSL's cipher list (server/tls/cipher_suites.h); "": gRPC's defaults.
  std::string cipher_list;
  // gRPC server keep-alive, etcd's --grpc-keepalive-*: the shortest ping interval a client may use,
  // how often the server pings an idle connection, and how long it waits for the answer.
  int64_t grpc_keepalive_min_time_ms = 5000;
  int64_t grpc_keepalive_interval_ms = 2 * 60 * 60 * 1000;
  int64_t grpc_keepalive_timeout_ms = 20 * 1000;
  int64_t max_concurrent_streams = 0;  // per client connection; 0: gRPC's default (no limit)
  // etcd's corruption checks (server/corruption_check.h): compare this member's HashKV with the
  // peers' at start-up and refuse to start on a mismatch; and, on the leader, every
  // corrupt_check_time_ms (0: never), raise the CORRUPT alarm for a member whose hash differs.
  bool initial_corrupt_check = false;
  int64_t corrupt_check_time_ms = 0;
  // etcd's --strict-reconfig-check: refuse membership changes that could cost the cluster its
  // quorum (server/reconfig_rules.h). The learner-in-sync rule for promotions applies regardless.
  bool strict_reconfig_check = true;
  // How often a watcher that asked for progress notifications hears the revision when idle.
  int64_t watch_progress_notify_interval_ms = 10 * 60 * 1000;
  // One line per etcd flag given that Cairn accepts but does not use, saying why; main prints them.
  std::vector<std::string> notices;
  // Auth tokens: seconds a token from Authenticate stays valid (etcd's --auth-token-ttl), and
  // --auth-token, accepted for compatibility: every value gives Cairn's signed tokens (README).
  int64_t auth_token_ttl_seconds = 300;
  std::string auth_token = "simple";
  bool show_version = false;
  bool show_help = false;

  int64_t EffectiveQuotaBytes() const;
  std::string EffectiveDataDir() const;
};

// Parses argv (argv[0] is skipped). Accepts "--flag=value", "--flag value" and "-flag" forms as
// etcd does; booleans accept a bare flag or "=true/false". Fails on unknown flags or bad values.
absl::StatusOr<Config> ParseFlags(const std::vector<std::string>& args);

// As ParseFlags, but a flag not given on the command line is taken from the environment, as etcd
// does: CAIRN_<FLAG> first, then ETCD_<FLAG> (upper case, '-' as '_'; e.g. ETCD_DATA_DIR).
// `getenv` returns null for an unset variable.
absl::StatusOr<Config> ParseFlagsWithEnv(const std::vector<std::string>& args,
                                         const std::function<const char*(const char*)>& getenv);

// Splits "http://a:1,http://b:2" into endpoints; every URL needs a scheme, host and port.
absl::StatusOr<std::vector<Endpoint>> ParseUrls(const std::string& flag, const std::string& value);

std::string UsageText();

}  // namespace cairn::server
