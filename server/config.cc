#include "server/config.h"

#include <cctype>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/tls/cipher_suites.h"

namespace cairn::server {
namespace {

constexpr int64_t kDefaultQuotaBytes = int64_t{2} * 1024 * 1024 * 1024;

absl::StatusOr<Endpoint> ParseUrl(const std::string& flag, const std::string& url) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid URL \"", url, "\" for --", flag, ": ", why));
  };
  size_t sep = url.find("://");
  if (sep == std::string::npos) return bad("missing scheme (want http://host:port)");
  Endpoint e;
  e.scheme = url.substr(0, sep);
  if (e.scheme != "http" && e.scheme != "https") return bad("scheme must be http or https");
  std::string rest = url.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return bad("missing port");
  e.host = rest.substr(0, colon);
  if (e.host.empty()) return bad("missing host");
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &e.port) || e.port < 0 || e.port > 65535) {
    return bad("bad port");
  }
  return e;
}

std::vector<std::string> SplitList(const std::string& value) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    out.emplace_back(part);
  }
  return out;
}

// An https listener needs a key pair (or auto-tls); a key pair needs both halves.
absl::Status CheckTls(const std::vector<Endpoint>& urls, const tls::TlsFiles& files, const std::string& prefix,
                      const char* kind, std::vector<std::string>* notices) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", prefix, "cert-file and --", prefix, "key-file must be given together"));
  }
  for (const Endpoint& e : urls) {
    if (e.scheme == "https" && !files.HasKeyPair() && !files.auto_tls) {
      return absl::InvalidArgumentError(absl::StrCat("TLS key/cert (--", prefix, "cert-file, --", prefix,
                                                     "key-file) must be provided for ", kind, " url https://",
                                                     e.HostPort(), " with HTTPS scheme (or use --", prefix,
                                                     "auto-tls)"));
    }
  }
  // The CRL and the allowed names judge a certificate the listener has verified against the
  // trusted CA. Without one, etcd refuses every connection when a name is required; saying so at
  // start-up is kinder. A CRL without verified certificates only has nothing to check.
  const bool verifies = files.RequiresClientCert() && !files.trusted_ca_file.empty();
  // etcd's names: --client-crl-file, --client-cert-allowed-hostname, --peer-cert-allowed-cn, ...
  const std::string family = prefix.empty() ? "client-" : prefix;
  if (files.HasNameRule() && !verifies) {
    const std::string name_flag = family + (files.allowed_cn.empty() ? "cert-allowed-hostname" : "cert-allowed-cn");
    return absl::InvalidArgumentError(absl::StrCat("--", name_flag, " needs --", prefix,
                                                   "trusted-ca-file: only a certificate verified against it has a "
                                                   "name to match"));
  }
  if (!files.crl_file.empty() && !verifies) {
    notices->push_back(absl::StrCat("--", family, "crl-file has no effect without --", prefix,
                                    "trusted-ca-file: no ", kind, " certificate is verified, so none is checked"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Endpoint::HostPort() const {
  // gRPC wants bracketed IPv6 literals; keep what the user wrote otherwise.
  return absl::StrCat(host, ":", port);
}

int64_t Config::EffectiveQuotaBytes() const {
  return quota_backend_bytes > 0 ? quota_backend_bytes : kDefaultQuotaBytes;
}

std::string Config::EffectiveDataDir() const {
  return data_dir.empty() ? name + ".cairn" : data_dir;
}

absl::StatusOr<std::vector<Endpoint>> ParseUrls(const std::string& flag, const std::string& value) {
  std::vector<Endpoint> out;
  for (const std::string& url : SplitList(value)) {
    auto e = ParseUrl(flag, url);
    if (!e.ok()) return e.status();
    out.push_back(*e);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs at least one URL"));
  return out;
}

absl::StatusOr<Config> ParseFlags(const std::vector<std::string>& args) {
  return ParseFlagsWithEnv(args, [](const char*) -> const char* { return nullptr; });
}

absl::StatusOr<Config> ParseFlagsWithEnv(const std::vector<std::string>& cli_args,
                                         const std::function<const char*(const char*)>& getenv) {
  Config c;
  std::string listen_client = "http://127.0.0.1:2379";
  std::string advertise_client = "http://127.0.0.1:2379";
  std::string listen_peer = "http://127.0.0.1:2380";
  std::string advertise_peer = "http://127.0.0.1:2380";
  std::string listen_metrics;
  bool initial_cluster_given = false;

  using Setter = std::function<absl::Status(const std::string&)>;
  auto str = [](std::string* out) -> Setter {
    return [out](const std::string& v) { *out = v; return absl::OkStatus(); };
  };
  auto num = [](const char* name, int64_t* out) -> Setter {
    return [name, out](const std::string& v) {
      if (!absl::SimpleAtoi(v, out) || *out < 0) {
        return absl::InvalidArgumentError(absl::StrCat("invalid value \"", v, "\" for --", name));
      }
      return absl::OkStatus();
    };
  };
  // Go durations ("5s", "2h", "1m30s"), as etcd's duration flags take them.
  auto duration_ms = [](const char* name, int64_t* out) -> Setter {
    return [name, out](const std::string& v) {
      absl::Duration d;
      if (!absl::ParseDuration(v, &d) || d <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(absl::StrCat("invalid value \"", v, "\" for --", name, " (a duration such as 5s)"));
      }
      *out = absl::ToInt64Milliseconds(d);
      return absl::OkStatus();
    };
  };
  // A Go duration that may be zero ("0" or "0s": off).
  auto duration_or_zero_ms = [](const char* name, int64_t* out) -> Setter {
    return [name, out](const std::string& v) {
      absl::Duration d;
      if (v == "0") {
        d = absl::ZeroDuration();
      } else if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid value \"", v, "\" for --", name, " (a duration such as 5m, or 0 for off)"));
      }
      *out = absl::ToInt64Milliseconds(d);
      if (d > absl::ZeroDuration() && *out == 0) *out = 1;  // below a millisecond is not off
      return absl::OkStatus();
    };
  };
  // etcd flags whose job Cairn does differently or not at all: accepted, so an etcd configuration
  // starts as it is, with a notice saying why the value is not used.
  auto no_effect = [&c](const char* name, const char* why) -> Setter {
    return [&c, name, why](const std::string&) {
      c.notices.push_back(absl::StrCat("--", name, " has no effect in Cairn: ", why));
      return absl::OkStatus();
    };
  };
  // etcd flags whose meaning Cairn cannot honour and must not pretend to: refused when they ask for
  // something (a value other than `allowed`), so nobody believes, say, a CRL is being checked.
  auto unsupported = [](const char* name, const char* allowed, const char* why) -> Setter {
    return [name, allowed, why](const std::string& v) {
      if (v.empty() || v == allowed) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is not supported by Cairn: ", why));
    };
  };
  const std::map<std::string, Setter> value_flags = {
      {"name", str(&c.name)},
      {"data-dir", str(&c.data_dir)},
      {"wal-dir", str(&c.wal_dir)},
      {"listen-client-urls", str(&listen_client)},
      {"advertise-client-urls", str(&advertise_client)},
      {"listen-peer-urls", str(&listen_peer)},
      {"initial-advertise-peer-urls", str(&advertise_peer)},
      {"initial-cluster", [&](const std::string& v) {
         c.initial_cluster = v;
         initial_cluster_given = true;
         return absl::OkStatus();
       }},
      {"initial-cluster-state", [&](const std::string& v) {
         if (v != "new" && v != "existing") {
           return absl::InvalidArgumentError("--initial-cluster-state must be \"new\" or \"existing\"");
         }
         c.initial_cluster_state = v;
         return absl::OkStatus();
       }},
      {"initial-cluster-token", str(&c.initial_cluster_token)},
      {"listen-metrics-urls", str(&listen_metrics)},
      {"max-request-bytes", num("max-request-bytes", &c.max_request_bytes)},
      {"max-txn-ops", num("max-txn-ops", &c.max_txn_ops)},
      {"quota-backend-bytes", num("quota-backend-bytes", &c.quota_backend_bytes)},
      {"heartbeat-interval", num("heartbeat-interval", &c.heartbeat_interval_ms)},
      {"election-timeout", num("election-timeout", &c.election_timeout_ms)},
      {"experimental-watch-batch-interval",
       num("experimental-watch-batch-interval", &c.watch_batch_interval_ms)},
      {"experimental-snapshot-catchup-entries",
       num("experimental-snapshot-catchup-entries", &c.snapshot_catchup_entries)},
      {"experimental-lease-checkpoint-interval",
       num("experimental-lease-checkpoint-interval", &c.lease_checkpoint_interval_ms)},
      {"auto-compaction-mode", str(&c.auto_compaction_mode)},
      {"auto-compaction-retention", str(&c.auto_compaction_retention)},
      {"log-level", str(&c.log_level)},
      {"cert-file", str(&c.client_tls.cert_file)},
      {"key-file", str(&c.client_tls.key_file)},
      {"trusted-ca-file", str(&c.client_tls.trusted_ca_file)},
      {"peer-cert-file", str(&c.peer_tls.cert_file)},
      {"peer-key-file", str(&c.peer_tls.key_file)},
      {"peer-trusted-ca-file", str(&c.peer_tls.trusted_ca_file)},
      {"client-crl-file", str(&c.client_tls.crl_file)},
      {"peer-crl-file", str(&c.peer_tls.crl_file)},
      {"client-cert-allowed-hostname", str(&c.client_tls.allowed_hostname)},
      {"peer-cert-allowed-cn", str(&c.peer_tls.allowed_cn)},
      {"peer-cert-allowed-hostname", str(&c.peer_tls.allowed_hostname)},
      {"cipher-suites", [&c](const std::string& v) {
         if (v.empty()) return absl::OkStatus();
         auto list = tls::OpenSslCipherList(v);
         if (!list.ok()) return list.status();
         c.cipher_list = *list;
         return absl::OkStatus();
       }},
      {"auth-token", [&](const std::string& v) {
         // etcd's forms: "simple", or "jwt,pub-key=...,priv-key=...,sign-method=...".
         const std::string kind = v.substr(0, v.find(','));
         if (kind != "simple" && kind != "jwt") {
           return absl::InvalidArgumentError(absl::StrCat("invalid value \"", v, "\" for --auth-token (simple or jwt,...)"));
         }
         c.auth_token = v;
         return absl::OkStatus();
       }},
      {"auth-token-ttl", num("auth-token-ttl", &c.auth_token_ttl_seconds)},
      {"grpc-keepalive-min-time", duration_ms("grpc-keepalive-min-time", &c.grpc_keepalive_min_time_ms)},
      {"grpc-keepalive-interval", duration_ms("grpc-keepalive-interval", &c.grpc_keepalive_interval_ms)},
      {"grpc-keepalive-timeout", duration_ms("grpc-keepalive-timeout", &c.grpc_keepalive_timeout_ms)},
      {"max-concurrent-streams", num("max-concurrent-streams", &c.max_concurrent_streams)},
      {"experimental-watch-progress-notify-interval",
       duration_ms("experimental-watch-progress-notify-interval", &c.watch_progress_notify_interval_ms)},
      {"experimental-corrupt-check-time",
       duration_or_zero_ms("experimental-corrupt-check-time", &c.corrupt_check_time_ms)},
      // Accepted, not used (see no_effect).
      {"snapshot-count", no_effect("snapshot-count", "the log is trimmed whenever the store is synced")},
      {"max-snapshots", no_effect("max-snapshots", "no snapshot files are kept")},
      {"max-wals", no_effect("max-wals", "the log keeps only the segments the store does not cover")},
      {"backend-batch-interval", no_effect("backend-batch-interval", "each write round commits once")},
      {"backend-batch-limit", no_effect("backend-batch-limit", "each write round commits once")},
      {"bcrypt-cost", no_effect("bcrypt-cost", "passwords are hashed with PBKDF2-HMAC-SHA256")},
      {"logger", no_effect("logger", "cairnd writes its log lines to stderr")},
      {"log-outputs", no_effect("log-outputs", "cairnd writes its log lines to stderr")},
      {"log-package-levels", no_effect("log-package-levels", "use --log-level")},
      {"metrics", no_effect("metrics", "/metrics always serves the same set (README \"Metrics\")")},
      {"cors", no_effect("cors", "HTTP answers carry etcd's default CORS headers")},
      {"host-whitelist", no_effect("host-whitelist", "the Host header is not checked")},
      {"experimental-compaction-batch-limit",
       no_effect("experimental-compaction-batch-limit", "compaction runs in bounded slices between write rounds")},
      {"experimental-backend-bbolt-freelist-type",
       no_effect("experimental-backend-bbolt-freelist-type", "the store is LMDB, not bbolt")},
      {"experimental-warning-apply-duration", no_effect("experimental-warning-apply-duration", "not measured")},
      {"discovery-fallback",
       no_effect("discovery-fallback", "it tunes the v2 discovery service (--discovery), which is not supported")},
      {"discovery-proxy",
       no_effect("discovery-proxy", "it tunes the v2 discovery service (--discovery), which is not supported")},
      {"discovery-srv-name", str(&c.discovery_srv_name)},
      {"proxy-dial-timeout", no_effect("proxy-dial-timeout", "the v2 proxy is not supported")},
      {"proxy-failure-wait", no_effect("proxy-failure-wait", "the v2 proxy is not supported")},
      {"proxy-read-timeout", no_effect("proxy-read-timeout", "the v2 proxy is not supported")},
      {"proxy-refresh-interval", no_effect("proxy-refresh-interval", "the v2 proxy is not supported")},
      {"proxy-write-timeout", no_effect("proxy-write-timeout", "the v2 proxy is not supported")},
      // Refused when they ask for something (see unsupported).
      {"discovery", unsupported("discovery", "", "list the members with --initial-cluster")},
      {"discovery-srv", str(&c.discovery_srv)},
      {"proxy", unsupported("proxy", "off", "the v2 proxy is not served")},
      {"experimental-enable-v2v3", unsupported("experimental-enable-v2v3", "", "the v2 API is not served")},
  };
  // Booleans etcd has that Cairn does not use, with what a given value means here: a notice when it
  // asks for something Cairn does anyway or cannot turn off, a refusal when honouring it matters.
  bool enable_v2 = false, debug = false;
  bool pre_vote = true, enable_pprof = false, peer_skip_san = false;
  bool election_tick_advance = true;
  const std::map<std::string, bool*> bool_flags = {
      {"force-new-cluster", &c.force_new_cluster},
      {"enable-v2", &enable_v2},
      {"debug", &debug},
      {"pre-vote", &pre_vote},
      {"strict-reconfig-check", &c.strict_reconfig_check},
      {"enable-pprof", &enable_pprof},
      {"experimental-peer-skip-client-san-verification", &peer_skip_san},
      {"initial-election-tick-advance", &election_tick_advance},
      {"version", &c.show_version},
      {"help", &c.show_help},
      {"backend-fsync", &c.backend_fsync},
      {"experimental-enable-lease-checkpoint", &c.lease_checkpoint},
      {"experimental-initial-corrupt-check", &c.initial_corrupt_check},
      {"client-cert-auth", &c.client_tls.client_cert_auth},
      {"auto-tls", &c.client_tls.auto_tls},
      {"peer-client-cert-auth", &c.peer_tls.client_cert_auth},
      {"peer-auto-tls", &c.peer_tls.auto_tls},
  };

  // Environment values go first, so the command line overrides them. Every flag has its variable
  // except --version and --help (images often set ETCD_VERSION for another purpose).
  std::vector<std::string> args;
  auto from_env = [&](const std::string& flag) {
    if (flag == "version" || flag == "help") return;
    std::string suffix(flag);
    for (char& ch : suffix) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    for (const char* prefix : {"CAIRN_", "ETCD_"}) {
      if (const char* value = getenv((prefix + suffix).c_str()); value != nullptr) {
        args.push_back(absl::StrCat("--", flag, "=", value));
        break;
      }
    }
  };
  for (const auto& [flag, set] : value_flags) from_env(flag);
  for (const auto& [flag, set] : bool_flags) from_env(flag);
  args.insert(args.end(), cli_args.begin(), cli_args.end());

  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.rfind("--", 0) == 0) {
      arg = arg.substr(2);
    } else if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      arg = arg.substr(1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "h") name = "help";
    if (auto b = bool_flags.find(name); b != bool_flags.end()) {
      if (!has_value || value == "true") {
        *b->second = true;
      } else if (value == "false") {
        *b->second = false;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("invalid boolean \"", value, "\" for --", name));
      }
      continue;
    }
    auto f = value_flags.find(name);
    if (f == value_flags.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      value = args[++i];
    }
    if (auto s = f->second(value); !s.ok()) return s;
  }
  if (c.show_help || c.show_version) return c;
  if (enable_v2) return absl::InvalidArgumentError("--enable-v2 is not supported by Cairn: the v2 API is not served");
  if (debug) c.log_level = "debug";
  if (!pre_vote) c.notices.push_back("--pre-vote=false has no effect in Cairn: raft always runs a pre-vote");
  if (enable_pprof) c.notices.push_back("--enable-pprof has no effect in Cairn: there is no Go runtime to profile");
  if (peer_skip_san) {
    c.notices.push_back("--experimental-peer-skip-client-san-verification has no effect in Cairn: peers' client "
                        "certificates are checked against the CA only");
  }
  if (!election_tick_advance) {
    c.notices.push_back("--initial-election-tick-advance=false has no effect in Cairn");
  }

  auto lc = ParseUrls("listen-client-urls", listen_client);
  if (!lc.ok()) return lc.status();
  c.listen_client_urls = *lc;
  c.advertise_client_urls = SplitList(advertise_client);
  auto lp = ParseUrls("listen-peer-urls", listen_peer);
  if (!lp.ok()) return lp.status();
  c.listen_peer_urls = *lp;
  c.initial_advertise_peer_urls = SplitList(advertise_peer);
  if (!listen_metrics.empty()) {
    auto lm = ParseUrls("listen-metrics-urls", listen_metrics);
    if (!lm.ok()) return lm.status();
    c.listen_metrics_urls = *lm;
    for (const Endpoint& e : c.listen_metrics_urls) {
      if (e.scheme == "https") {
        return absl::InvalidArgumentError(absl::StrCat(
            "--listen-metrics-urls: https://", e.HostPort(),
            ": the metrics listener serves plain http only; use http:// (or serve /health over a proxy)"));
      }
    }
  }
  if (auto s = CheckTls(c.listen_client_urls, c.client_tls, "", "client", &c.notices); !s.ok()) return s;
  if (auto s = CheckTls(c.listen_peer_urls, c.peer_tls, "peer-", "peer", &c.notices); !s.ok()) return s;
  if (!c.discovery_srv.empty() && initial_cluster_given) {
    return absl::InvalidArgumentError(
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or "
        "\"discovery-srv\"");
  }
  if (!c.discovery_srv_name.empty() && c.discovery_srv.empty()) {
    c.notices.push_back("--discovery-srv-name has no effect without --discovery-srv");
  }
  if (!initial_cluster_given && c.discovery_srv.empty()) {
    c.initial_cluster = c.name + "=" + (c.initial_advertise_peer_urls.empty() ? std::string() : c.initial_advertise_peer_urls[0]);
  }
  if (c.max_request_bytes == 0) return absl::InvalidArgumentError("--max-request-bytes must be positive");
  if (c.max_txn_ops == 0) return absl::InvalidArgumentError("--max-txn-ops must be positive");
  if (c.lease_checkpoint_interval_ms == 0) {
    return absl::InvalidArgumentError("--experimental-lease-checkpoint-interval must be positive");
  }
  if (c.auth_token_ttl_seconds == 0) return absl::InvalidArgumentError("--auth-token-ttl must be positive");
  auto retention = ParseCompactionRetention(c.auto_compaction_mode, c.auto_compaction_retention);
  if (!retention.ok()) return retention.status();
  c.auto_compaction = *retention;
  return c;
}

std::string UsageText() {
  return R"(Usage: cairnd [flags]

Cairn: a key-value store for service discovery and secrets that speaks the etcd v3 API.

Member:
  --name NAME                      human-readable name of this member (default "default")
  --data-dir DIR                   where data lives (default "<name>.cairn")
  --wal-dir DIR                    keep the raft log in DIR (e.g. on its own disk) instead of
                                   <data-dir>/member/wal; every later start needs the same DIR
  --listen-client-urls URLS        where to serve clients (default http://127.0.0.1:2379)
  --advertise-client-urls URLS     client URLs told to clients (default http://127.0.0.1:2379)
  --listen-peer-urls URLS          where to serve peers (default http://127.0.0.1:2380)
  --listen-metrics-urls URLS       extra HTTP listener for /health and /metrics (default none)
  --max-request-bytes N            largest client request in bytes (default 1572864)
  --max-txn-ops N                  most operations in one txn (default 128)
  --quota-backend-bytes N          database size limit; 0 means 2 GiB (default 0)
  --backend-fsync                  also fsync every LMDB commit (power-loss safe store file,
                                   slower writes; the WAL is always fsync'ed) (default false)
  --heartbeat-interval MS          raft heartbeat interval (default 100)
  --election-timeout MS            raft election timeout (default 1000)
  --experimental-watch-batch-interval MS
                                   under heavy fan-out (32+ watchers served at once on a stream),
                                   events for a stream leave at most once per MS, batched: more
                                   events/s, up to MS more latency; 0 sends at once (default 20)
  --experimental-snapshot-catchup-entries N
                                   applied log entries kept for slow followers; one further
                                   behind is sent a store image instead (default 5000)
  --experimental-enable-lease-checkpoint
                                   the leader records leases' remaining TTLs through the log, so
                                   a leader change or restart does not give a lease its full TTL
                                   again (default false)
  --experimental-lease-checkpoint-interval MS
                                   how often it does (default 300000, etcd's 5 minutes)
  --auto-compaction-mode MODE      periodic or revision (default periodic)
  --auto-compaction-retention R    compact on its own, keeping R of history: in periodic mode
                                   hours ("1") or a duration ("30m"); in revision mode a number
                                   of revisions; 0 is off (default 0)
  --log-level LEVEL                debug, info, warn or error (default info)
  --grpc-keepalive-min-time D      shortest ping interval a client may use (default 5s)
  --grpc-keepalive-interval D      ping idle client connections this often (default 2h)
  --grpc-keepalive-timeout D       drop a connection whose ping is not answered in D (default 20s)
  --max-concurrent-streams N       most concurrent streams per client connection (default no limit)
  --experimental-watch-progress-notify-interval D
                                   how often idle watchers that asked for progress notifications
                                   hear the current revision (default 10m)
  --experimental-initial-corrupt-check
                                   at start-up, compare this member's HashKV with its peers' and
                                   refuse to start on a mismatch (default false)
  --experimental-corrupt-check-time D
                                   the leader compares every member's HashKV every D and raises
                                   the CORRUPT alarm on a mismatch; 0 is off (default 0)

Other etcd 3.4 flags are accepted so an etcd configuration starts unchanged. Those Cairn does not
use (--snapshot-count, --max-wals, --logger, --metrics, ...) print why at start-up; those it cannot
honour (--discovery, --proxy, --enable-v2) stop start-up with the reason.
  --auth-token-ttl SECONDS         how long a token from Authenticate is valid (default 300)
  --auth-token simple|jwt,...      accepted for etcd compatibility; Cairn always issues its own
                                   HMAC-signed tokens (see README "Authentication")

TLS (applied to https:// URLs; http:// URLs stay plaintext):
  --cert-file FILE                 client listener's certificate (PEM)
  --key-file FILE                  its private key (PEM, unencrypted)
  --trusted-ca-file FILE           CA bundle client certificates must chain to; given, clients
                                   must present a certificate (as etcd 3.4)
  --client-cert-auth               clients must present a certificate signed by --trusted-ca-file
  --auto-tls                       no files: generate a self-signed certificate in the data dir
                                   (clients then skip verification) (default false)
  --peer-cert-file FILE            peer listener's certificate, also presented when dialing peers
  --peer-key-file FILE             its private key
  --peer-trusted-ca-file FILE      CA bundle peers' certificates (both directions) must chain to
  --peer-client-cert-auth          peers must present a certificate signed by --peer-trusted-ca-file
  --peer-auto-tls                  no files: self-signed peer certificate, peers not verified
  --client-crl-file FILE           refuse client certificates whose serial this CRL lists (PEM or
                                   DER; re-read when it changes)
  --peer-crl-file FILE             the same for members dialing this one
  --client-cert-allowed-hostname H client certificates must cover host name H in their SANs
  --peer-cert-allowed-cn CN        peers' certificates (both directions) must have subject CN...
  --peer-cert-allowed-hostname H   ...or cover host name H (either rule admits)
  --cipher-suites S1,S2,...        TLS 1.2 cipher suites offered and accepted, by etcd's (Go's)
                                   names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; TLS 1.3
                                   is not configurable (default: gRPC's)

Clustering:
  --initial-advertise-peer-urls URLS
  --initial-cluster NAME=URL,...
  --initial-cluster-state new|existing
  --initial-cluster-token TOKEN
  --discovery-srv DOMAIN           take the founding members from DOMAIN's SRV records
                                   (_etcd-server-ssl._tcp.DOMAIN and _etcd-server._tcp.DOMAIN)
                                   instead of --initial-cluster; CAIRN_DNS_SERVER=IP:PORT asks that
                                   DNS server instead of /etc/resolv.conf's (README "Running a cluster")
  --discovery-srv-name NAME        look for _etcd-server-ssl-NAME._tcp.DOMAIN and so on instead
  --force-new-cluster              restart on this data dir as the only member of its cluster,
                                   keeping the data it knows was committed (after a permanent
                                   loss of quorum; README "Recovering from a lost quorum")

  --version                        print the version and exit
  --help                           print this help and exit
)";
}

}  // namespace cairn::server
