#include "server/config.h"

#include <cctype>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/compaction_schedule.h"

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
                      const char* kind) {
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
  const std::map<std::string, Setter> value_flags = {
      {"name", str(&c.name)},
      {"data-dir", str(&c.data_dir)},
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
  };
  const std::map<std::string, bool*> bool_flags = {
      {"version", &c.show_version},
      {"help", &c.show_help},
      {"backend-fsync", &c.backend_fsync},
      {"experimental-enable-lease-checkpoint", &c.lease_checkpoint},
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
  if (auto s = CheckTls(c.listen_client_urls, c.client_tls, "", "client"); !s.ok()) return s;
  if (auto s = CheckTls(c.listen_peer_urls, c.peer_tls, "peer-", "peer"); !s.ok()) return s;
  if (!initial_cluster_given) {
    c.initial_cluster = c.name + "=" + (c.initial_advertise_peer_urls.empty() ? std::string() : c.initial_advertise_peer_urls[0]);
  }
  if (c.max_request_bytes == 0) return absl::InvalidArgumentError("--max-request-bytes must be positive");
  if (c.max_txn_ops == 0) return absl::InvalidArgumentError("--max-txn-ops must be positive");
  if (c.lease_checkpoint_interval_ms == 0) {
    return absl::InvalidArgumentError("--experimental-lease-checkpoint-interval must be positive");
  }
  if (c.auth_token_ttl_seconds == 0) return absl::InvalidArgumentError("--auth-token-ttl must be positive");
  if (auto s = ParseCompactionRetention(c.auto_compaction_mode, c.auto_compaction_retention); !s.ok()) {
    return s.status();
  }
  return c;
}

std::string UsageText() {
  return R"(Usage: cairnd [flags]

Cairn: a key-value store for service discovery and secrets that speaks the etcd v3 API.

Member:
  --name NAME                      human-readable name of this member (default "default")
  --data-dir DIR                   where data lives (default "<name>.cairn")
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

Clustering:
  --initial-advertise-peer-urls URLS
  --initial-cluster NAME=URL,...
  --initial-cluster-state new|existing
  --initial-cluster-token TOKEN

  --version                        print the version and exit
  --help                           print this help and exit
)";
}

}  // namespace cairn::server
