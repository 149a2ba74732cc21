#include "server/config.h"

#include <gtest/gtest.h>

namespace cairn::server {
namespace {

TEST(Config, DefaultsMatchEtcd) {
  auto c = ParseFlags({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "default");
  EXPECT_EQ(c->EffectiveDataDir(), "default.cairn");
  ASSERT_EQ(c->listen_client_urls.size(), 1u);
  EXPECT_EQ(c->listen_client_urls[0].HostPort(), "127.0.0.1:2379");
  EXPECT_EQ(c->max_request_bytes, 1572864);
  EXPECT_EQ(c->max_txn_ops, 128);
  EXPECT_EQ(c->EffectiveQuotaBytes(), int64_t{2} << 30);
  EXPECT_EQ(c->heartbeat_interval_ms, 100);
  EXPECT_EQ(c->election_timeout_ms, 1000);
}

TEST(Config, AcceptsBothEtcdFlagForms) {
  auto c = ParseFlags({"--name", "n1", "--data-dir=/tmp/x", "-max-txn-ops", "7",
                       "--listen-client-urls=http://127.0.0.1:1,http://127.0.0.2:2"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "n1");
  EXPECT_EQ(c->EffectiveDataDir(), "/tmp/x");
  EXPECT_EQ(c->max_txn_ops, 7);
  ASSERT_EQ(c->listen_client_urls.size(), 2u);
  EXPECT_EQ(c->listen_client_urls[1].HostPort(), "127.0.0.2:2");
}

TEST(Config, AuthTokenFlags) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->auth_token_ttl_seconds, 300);  // etcd's default
  auto c = ParseFlags({"--auth-token-ttl", "20", "--auth-token", "jwt,pub-key=a,priv-key=b,sign-method=RS256"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth_token_ttl_seconds, 20);
  EXPECT_TRUE(ParseFlags({"--auth-token=simple"}).ok());
  EXPECT_FALSE(ParseFlags({"--auth-token=magic"}).ok());
  EXPECT_FALSE(ParseFlags({"--auth-token-ttl=0"}).ok());
  auto env = ParseFlagsWithEnv({}, [](const char* name) -> const char* {
    return std::string(name) == "ETCD_AUTH_TOKEN_TTL" ? "42" : nullptr;
  });
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->auth_token_ttl_seconds, 42);
}

TEST(Config, RejectsUnknownFlagsAndBadValues) {
  auto unknown = ParseFlags({"--no-such-flag=1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no-such-flag"), std::string::npos);
  EXPECT_FALSE(ParseFlags({"--max-request-bytes", "lots"}).ok());
  EXPECT_FALSE(ParseFlags({"--listen-client-urls", "127.0.0.1:2379"}).ok());  // no scheme
  EXPECT_FALSE(ParseFlags({"--initial-cluster-state", "maybe"}).ok());
  EXPECT_FALSE(ParseFlags({"--name"}).ok());
}

TEST(Config, LeaseCheckpointsAreOffByDefaultAndTakeAnInterval) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->lease_checkpoint);
  EXPECT_EQ(defaults->lease_checkpoint_interval_ms, 300000);  // etcd's 5 minutes
  auto on = ParseFlags({"--experimental-enable-lease-checkpoint", "--experimental-lease-checkpoint-interval=1500"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->lease_checkpoint);
  EXPECT_EQ(on->lease_checkpoint_interval_ms, 1500);
  EXPECT_FALSE(ParseFlags({"--experimental-lease-checkpoint-interval=0"}).ok());
}

TEST(Config, EnvironmentFillsFlagsTheCommandLineDoesNotGive) {
  auto env = [](const char* name) -> const char* {
    std::string n(name);
    if (n == "ETCD_NAME") return "from-etcd-env";
    if (n == "CAIRN_DATA_DIR") return "/from/cairn/env";
    if (n == "ETCD_DATA_DIR") return "/ignored";
    if (n == "ETCD_MAX_TXN_OPS") return "9";
    return nullptr;
  };
  auto c = ParseFlagsWithEnv({"--max-txn-ops", "3"}, env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "from-etcd-env");
  EXPECT_EQ(c->EffectiveDataDir(), "/from/cairn/env");
  EXPECT_EQ(c->max_txn_ops, 3);  // the command line wins
}

TEST(Config, EveryFlagButVersionAndHelpHasItsVariable) {
  auto env = [](const char* name) -> const char* {
    std::string n(name);
    if (n == "ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT") return "true";
    if (n == "CAIRN_EXPERIMENTAL_LEASE_CHECKPOINT_INTERVAL") return "2000";
    if (n == "ETCD_AUTH_TOKEN_TTL") return "60";
    if (n == "ETCD_VERSION") return "3.4.23";  // set by some images; must not make cairnd print and exit
    return nullptr;
  };
  auto c = ParseFlagsWithEnv({}, env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->lease_checkpoint);
  EXPECT_EQ(c->lease_checkpoint_interval_ms, 2000);
  EXPECT_EQ(c->auth_token_ttl_seconds, 60);
  EXPECT_FALSE(c->show_version);
}

}  // namespace
}  // namespace cairn::server

namespace cairn::server {
namespace {

// An etcd 3.4 configuration must start unchanged: kubeadm's static pod, for one, passes
// --snapshot-count. Flags Cairn does not use say so; flags it cannot honour stop start-up.
TEST(Config, EtcdFlagsCairnDoesNotUseAreAcceptedWithANotice) {
  auto c = ParseFlags({"--snapshot-count=10000", "--logger", "zap", "--log-outputs=stderr", "--enable-pprof",
                       "--metrics=extensive", "--pre-vote=false", "--proxy=off",
                       "--discovery-fallback=proxy"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->notices.size(), 7u);
  EXPECT_NE(c->notices[0].find("--snapshot-count has no effect in Cairn"), std::string::npos) << c->notices[0];
}

// Enforced (server/reconfig_rules.h), so turning it off is a setting, not a notice.
TEST(Config, StrictReconfigCheckIsOnByDefaultAndCanBeTurnedOff) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_TRUE(defaults->strict_reconfig_check);
  auto off = ParseFlags({"--strict-reconfig-check=false"});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->strict_reconfig_check);
  EXPECT_TRUE(off->notices.empty()) << off->notices[0];
  auto on = ParseFlags({"--strict-reconfig-check"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->strict_reconfig_check);
}

TEST(Config, EtcdFlagsCairnCannotHonourStopStartUp) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--discovery=https://discovery.etcd.io/abc"}, {"--enable-v2=true"}, {"--proxy=on"}}) {
    auto c = ParseFlags(args);
    ASSERT_FALSE(c.ok()) << args[0];
    EXPECT_NE(c.status().message().find("not supported by Cairn"), std::string::npos) << c.status();
  }
  EXPECT_TRUE(ParseFlags({"--discovery="}).ok());  // an empty value asks for nothing
}

// --discovery-srv replaces --initial-cluster (the members come from DNS at the first start), so
// giving both is etcd's bootstrap conflict, and no default --initial-cluster is made up.
TEST(Config, DiscoverySrvTakesThePlaceOfInitialCluster) {
  auto c = ParseFlags({"--name=m1", "--discovery-srv=example.com", "--discovery-srv-name=prod"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->discovery_srv, "example.com");
  EXPECT_EQ(c->discovery_srv_name, "prod");
  EXPECT_EQ(c->initial_cluster, "");
  EXPECT_FALSE(c->founders_from_srv);  // set only once the records were read

  auto both = ParseFlags({"--discovery-srv=example.com", "--initial-cluster=m1=http://127.0.0.1:2380"});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().message(),
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or "
            "\"discovery-srv\"");

  auto name_only = ParseFlags({"--discovery-srv-name=prod"});
  ASSERT_TRUE(name_only.ok()) << name_only.status();
  ASSERT_EQ(name_only->notices.size(), 1u);
  EXPECT_EQ(name_only->notices[0], "--discovery-srv-name has no effect without --discovery-srv");
}

// --cipher-suites takes etcd's (Go's) suite names and refuses others with etcd's words.
TEST(Config, CipherSuitesBecomeAnOpenSslList) {
  auto c = ParseFlags({"--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cipher_list, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_EQ(ParseFlags({})->cipher_list, "");
  auto unknown = ParseFlags({"--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,FOO"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "unexpected TLS cipher suite \"FOO\"");
  // Known to etcd, disabled in Debian's OpenSSL: refused rather than silently not offered.
  auto rc4 = ParseFlags({"--cipher-suites=TLS_RSA_WITH_RC4_128_SHA"});
  ASSERT_FALSE(rc4.ok());
  EXPECT_NE(rc4.status().message().find("not available"), std::string::npos) << rc4.status();
}

// The CRL and allowed names judge verified certificates: a name rule without a trusted CA could
// only refuse everyone, so it stops start-up; a CRL without one is a notice.
TEST(Config, CertificateRulesNeedAVerifyingListener) {
  auto ok = ParseFlags({"--trusted-ca-file=ca.crt", "--client-crl-file=crl.pem",
                        "--client-cert-allowed-hostname=client.example", "--peer-trusted-ca-file=ca.crt",
                        "--peer-crl-file=peer.crl", "--peer-cert-allowed-cn=member", "--peer-cert-allowed-hostname=m.example"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->client_tls.crl_file, "crl.pem");
  EXPECT_EQ(ok->client_tls.allowed_hostname, "client.example");
  EXPECT_EQ(ok->peer_tls.crl_file, "peer.crl");
  EXPECT_EQ(ok->peer_tls.allowed_cn, "member");
  EXPECT_EQ(ok->peer_tls.allowed_hostname, "m.example");
  EXPECT_TRUE(ok->notices.empty()) << ok->notices[0];

  auto no_ca = ParseFlags({"--peer-cert-allowed-cn=member", "--peer-client-cert-auth"});
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.status().message(),
            "--peer-cert-allowed-cn needs --peer-trusted-ca-file: only a certificate verified against it has a "
            "name to match");
  auto client_no_ca = ParseFlags({"--client-cert-allowed-hostname=x"});
  ASSERT_FALSE(client_no_ca.ok());
  EXPECT_NE(client_no_ca.status().message().find("--client-cert-allowed-hostname needs --trusted-ca-file"),
            std::string::npos)
      << client_no_ca.status();

  auto crl_only = ParseFlags({"--client-crl-file=crl.pem"});
  ASSERT_TRUE(crl_only.ok()) << crl_only.status();
  ASSERT_EQ(crl_only->notices.size(), 1u);
  EXPECT_NE(crl_only->notices[0].find("--client-crl-file has no effect"), std::string::npos) << crl_only->notices[0];
}

// The log on its own disk, as etcd's tuning guide recommends; DataDir checks it (data_dir_test).
TEST(Config, WalDirPutsTheLogElsewhereFromFlagOrEnvironment) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->wal_dir, "");  // <data-dir>/member/wal
  auto flag = ParseFlags({"--data-dir", "/data", "--wal-dir", "/disk2/wal"});
  ASSERT_TRUE(flag.ok()) << flag.status();
  EXPECT_EQ(flag->wal_dir, "/disk2/wal");
  EXPECT_EQ(flag->EffectiveDataDir(), "/data");
  EXPECT_TRUE(flag->notices.empty());
  auto empty = ParseFlags({"--wal-dir="});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->wal_dir, "");

  auto etcd_env = ParseFlagsWithEnv({}, [](const char* name) -> const char* {
    return std::string(name) == "ETCD_WAL_DIR" ? "/etcd/wal" : nullptr;
  });
  ASSERT_TRUE(etcd_env.ok()) << etcd_env.status();
  EXPECT_EQ(etcd_env->wal_dir, "/etcd/wal");
  auto both_env = ParseFlagsWithEnv({}, [](const char* name) -> const char* {
    std::string n(name);
    if (n == "CAIRN_WAL_DIR") return "/cairn/wal";
    if (n == "ETCD_WAL_DIR") return "/etcd/wal";
    return nullptr;
  });
  ASSERT_TRUE(both_env.ok());
  EXPECT_EQ(both_env->wal_dir, "/cairn/wal");
  auto cli_wins = ParseFlagsWithEnv({"--wal-dir=/cli/wal"}, [](const char* name) -> const char* {
    return std::string(name) == "ETCD_WAL_DIR" ? "/etcd/wal" : nullptr;
  });
  ASSERT_TRUE(cli_wins.ok());
  EXPECT_EQ(cli_wins->wal_dir, "/cli/wal");
}

TEST(Config, ForceNewClusterIsAcceptedFromTheCommandLineOrTheEnvironment) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->force_new_cluster);
  auto given = ParseFlags({"--force-new-cluster"});
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_TRUE(given->force_new_cluster);
  auto from_env = ParseFlagsWithEnv({}, [](const char* name) -> const char* {
    return std::string(name) == "ETCD_FORCE_NEW_CLUSTER" ? "true" : nullptr;
  });
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_TRUE(from_env->force_new_cluster);
}

TEST(Config, KeepaliveStreamsAndProgressFlagsTakeEtcdsValues) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->grpc_keepalive_min_time_ms, 5000);
  EXPECT_EQ(defaults->grpc_keepalive_interval_ms, 2 * 3600 * 1000);
  EXPECT_EQ(defaults->grpc_keepalive_timeout_ms, 20000);
  EXPECT_EQ(defaults->watch_progress_notify_interval_ms, 600000);
  auto c = ParseFlags({"--grpc-keepalive-min-time=1s", "--grpc-keepalive-interval", "1m30s",
                       "--grpc-keepalive-timeout=500ms", "--max-concurrent-streams=100",
                       "--experimental-watch-progress-notify-interval=2s", "--debug"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->grpc_keepalive_min_time_ms, 1000);
  EXPECT_EQ(c->grpc_keepalive_interval_ms, 90000);
  EXPECT_EQ(c->grpc_keepalive_timeout_ms, 500);
  EXPECT_EQ(c->max_concurrent_streams, 100);
  EXPECT_EQ(c->watch_progress_notify_interval_ms, 2000);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_FALSE(ParseFlags({"--grpc-keepalive-timeout=soon"}).ok());
}

TEST(Config, CorruptionCheckFlagsAreHonoured) {
  auto defaults = ParseFlags({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->initial_corrupt_check);
  EXPECT_EQ(defaults->corrupt_check_time_ms, 0);
  EXPECT_TRUE(defaults->notices.empty());
  auto on = ParseFlags({"--experimental-initial-corrupt-check", "--experimental-corrupt-check-time=1m30s"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->initial_corrupt_check);
  EXPECT_EQ(on->corrupt_check_time_ms, 90000);
  EXPECT_TRUE(on->notices.empty());  // real flags, not "no effect"
  for (const char* off : {"--experimental-corrupt-check-time=0", "--experimental-corrupt-check-time=0s"}) {
    auto c = ParseFlags({off});
    ASSERT_TRUE(c.ok()) << off << ": " << c.status();
    EXPECT_EQ(c->corrupt_check_time_ms, 0) << off;
  }
  EXPECT_FALSE(ParseFlags({"--experimental-corrupt-check-time=often"}).ok());
  EXPECT_FALSE(ParseFlags({"--experimental-corrupt-check-time=-1s"}).ok());
  auto env = ParseFlagsWithEnv({}, [](const char* name) -> const char* {
    if (std::string(name) == "ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME") return "2s";
    if (std::string(name) == "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK") return "true";
    return nullptr;
  });
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->corrupt_check_time_ms, 2000);
  EXPECT_TRUE(env->initial_corrupt_check);
}

TEST(Config, EveryEtcd34FlagIsKnown) {
  // etcd 3.4's flags (etcd --help), each given a value etcd accepts and Cairn does not refuse.
  const std::vector<std::string> accepted = {
      "--advertise-client-urls=http://127.0.0.1:2379", "--auth-token=simple", "--auth-token-ttl=300",
      "--auto-compaction-mode=periodic", "--auto-compaction-retention=0", "--auto-tls=false",
      "--backend-batch-interval=100ms", "--backend-batch-limit=10000", "--bcrypt-cost=10", "--cert-file=",
      "--cipher-suites=", "--client-cert-allowed-hostname=", "--client-cert-auth=false", "--client-crl-file=",
      "--cors=*", "--data-dir=x", "--debug=false", "--discovery=", "--discovery-fallback=proxy",
      "--discovery-proxy=", "--discovery-srv=", "--discovery-srv-name=", "--election-timeout=1000",
      "--enable-pprof=false", "--enable-v2=false", "--experimental-backend-bbolt-freelist-type=array",
      "--experimental-compaction-batch-limit=1000", "--experimental-enable-lease-checkpoint=false",
      "--experimental-corrupt-check-time=0s", "--experimental-initial-corrupt-check=false",
      "--experimental-enable-v2v3=", "--experimental-peer-skip-client-san-verification=false",
      "--experimental-warning-apply-duration=100ms", "--experimental-watch-progress-notify-interval=10m",
      "--force-new-cluster=false", "--grpc-keepalive-interval=2h", "--grpc-keepalive-min-time=5s",
      "--grpc-keepalive-timeout=20s", "--heartbeat-interval=100", "--host-whitelist=*",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380", "--initial-cluster=default=http://127.0.0.1:2380",
      "--initial-cluster-state=new", "--initial-cluster-token=etcd-cluster", "--initial-election-tick-advance=true",
      "--key-file=", "--listen-client-urls=http://127.0.0.1:2379", "--listen-metrics-urls=",
      "--listen-peer-urls=http://127.0.0.1:2380", "--log-level=info", "--log-outputs=default",
      "--log-package-levels=", "--logger=capnslog", "--max-concurrent-streams=4294967295",
      "--max-request-bytes=1572864", "--max-snapshots=5", "--max-txn-ops=128", "--max-wals=5", "--metrics=basic",
      "--name=default", "--peer-auto-tls=false", "--peer-cert-allowed-cn=", "--peer-cert-allowed-hostname=",
      "--peer-cert-file=", "--peer-client-cert-auth=false", "--peer-crl-file=", "--peer-key-file=",
      "--peer-trusted-ca-file=", "--pre-vote=false", "--proxy=off", "--proxy-dial-timeout=1000",
      "--proxy-failure-wait=5000", "--proxy-read-timeout=0", "--proxy-refresh-interval=30000",
      "--proxy-write-timeout=5000", "--quota-backend-bytes=0", "--snapshot-count=100000",
      "--strict-reconfig-check=true", "--trusted-ca-file=", "--wal-dir="};
  for (const std::string& flag : accepted) {
    auto c = ParseFlags({flag});
    EXPECT_TRUE(c.ok()) << flag << ": " << c.status();
  }
}

}  // namespace
}  // namespace cairn::server
