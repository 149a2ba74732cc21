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
