// Runs the cairn-bench binary for every workload, with small totals, against a real
// server process: etcd 3.4 (the reference), cairn-nullserver, and cairnd when it has been
// built (skipped otherwise). Figures are checked for sanity, never for speed.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/loopback_ports.h"

extern char** environ;

namespace {

std::string CairndPath() {
  if (const char* env = std::getenv("CAIRND")) return env;
  for (const char* path : {CAIRN_BUILD_CAIRND, CAIRN_DEFAULT_CAIRND}) {
    if (access(path, X_OK) == 0) return path;
  }
  return CAIRN_DEFAULT_CAIRND;
}

int FreePort() { return cairn::testing::FreeLoopbackPort(); }

// Runs a command, returning its exit code and what it wrote on stdout.
int RunCommand(const std::vector<std::string>& argv, std::string* out) {
  std::string command;
  for (const auto& a : argv) command += "'" + a + "' ";
  command += "2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A number from cairn-bench's one-line JSON summary (keys are unique in it).
double JsonNumber(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = json.find(needle);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << key << " in " << json;
    return -1;
  }
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

class ServerProcess {
 public:
  ServerProcess(const std::string& kind, const std::string& binary) {
    dir_ = std::filesystem::temp_directory_path() / ("cairn-bench-test-XXXXXX");
    std::string pattern = dir_.string();
    dir_ = mkdtemp(pattern.data());
    endpoint_ = "127.0.0.1:" + std::to_string(FreePort());
    const std::string client = "http://" + endpoint_;
    const std::string peer = "http://127.0.0.1:" + std::to_string(FreePort());
    std::vector<std::string> args = {binary, "--listen-client-urls", client};
    if (kind == "null-sync") {
      args.insert(args.end(), {"--sync-file", sync_file()});
    } else if (kind != "null") {
      args = {binary, "--name", "bench", "--data-dir", (dir_ / "data").string(), "--listen-client-urls", client,
              "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
              "--initial-cluster", "bench=" + peer};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = (dir_ / "server.log").string();
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> c_args;
    for (auto& a : args) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, c_args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    std::string out;
    ready_ = pid_ > 0 && RunCommand({CAIRN_BENCH_BIN, "ready", "--endpoints", endpoint_, "--timeout", "30"}, &out) == 0;
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  bool ready() const { return ready_; }
  const std::string& endpoint() const { return endpoint_; }
  std::string sync_file() const { return (dir_ / "sync").string(); }

 private:
  std::filesystem::path dir_;
  std::string endpoint_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

// One server per kind for the whole test program, stopped when it exits.
std::map<std::string, std::unique_ptr<ServerProcess>>& Servers() {
  static auto* servers = new std::map<std::string, std::unique_ptr<ServerProcess>>();
  return *servers;
}

class StopServers : public ::testing::Environment {
 public:
  void TearDown() override { Servers().clear(); }
};
const auto* const kStopServers = ::testing::AddGlobalTestEnvironment(new StopServers);

std::string BinaryOf(const std::string& kind) {
  if (kind == "etcd") return "/usr/bin/etcd";
  if (kind == "null" || kind == "null-sync") return CAIRN_NULLSERVER_BIN;
  return CairndPath();
}

class BenchAgainstServer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string binary = BinaryOf(GetParam());
    if (access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " not built";
    auto& server = Servers()[GetParam()];
    if (!server) server = std::make_unique<ServerProcess>(GetParam(), binary);
    ASSERT_TRUE(server->ready()) << GetParam() << " did not start";
    endpoint_ = server->endpoint();
  }

  // Runs a workload and checks what every summary must satisfy; returns the JSON.
  std::string Bench(std::vector<std::string> args) {
    args.insert(args.begin(), CAIRN_BENCH_BIN);
    args.insert(args.end(), {"--endpoints", endpoint_, "--json", "--timeout", "20"});
    std::string json;
    EXPECT_EQ(RunCommand(args, &json), 0) << json;
    EXPECT_EQ(JsonNumber(json, "errors"), 0) << json;
    EXPECT_GT(JsonNumber(json, "requests_per_s"), 0) << json;
    EXPECT_GT(JsonNumber(json, "seconds"), 0) << json;
    const double p50 = JsonNumber(json, "p50");
    const double p99 = JsonNumber(json, "p99");
    EXPECT_GT(p50, 0) << json;
    EXPECT_LE(p50, p99) << json;
    EXPECT_LE(p99, JsonNumber(json, "max") + 1e-9) << json;
    EXPECT_GE(JsonNumber(json, "client_cpu_us_per_request"), 0) << json;
    return json;
  }

  std::string endpoint_;
};

TEST_P(BenchAgainstServer, Put) {
  auto json = Bench({"put", "--clients", "8", "--conns", "2", "--total", "300", "--key-space-size", "100"});
  EXPECT_EQ(JsonNumber(json, "requests"), 300);
  EXPECT_EQ(JsonNumber(json, "count"), 300);  // one latency per request
}

TEST_P(BenchAgainstServer, RangeLinearizableAndSerializable) {
  for (const char* consistency : {"l", "s"}) {
    auto json = Bench({"range", "--consistency", consistency, "--clients", "4", "--total", "200"});
    EXPECT_EQ(JsonNumber(json, "requests"), 200) << consistency;
  }
}

TEST_P(BenchAgainstServer, TxnPut) {
  auto json = Bench({"txn-put", "--txn-ops", "3", "--clients", "2", "--total", "50", "--sequential-keys",
                     "--key-space-size", "1000"});
  EXPECT_EQ(JsonNumber(json, "requests"), 50);
}

TEST_P(BenchAgainstServer, RatePacesRequests) {
  // 20 requests at 100/s cannot finish in much less than 0.19 s.
  auto json = Bench({"put", "--clients", "4", "--total", "20", "--rate", "100"});
  EXPECT_GE(JsonNumber(json, "seconds"), 0.15);
}

TEST_P(BenchAgainstServer, WatchFanOutDeliversEveryEventToEveryWatcher) {
  auto json = Bench({"watch", "--watchers", "20", "--watch-streams", "4", "--clients", "2", "--total", "50",
                     "--prefix", "fanout-" + GetParam() + "/"});
  EXPECT_EQ(JsonNumber(json, "puts"), 50);
  EXPECT_EQ(JsonNumber(json, "requests"), 20 * 50);
  EXPECT_EQ(JsonNumber(json, "count"), 20 * 50);  // a delivery latency per event
}

TEST_P(BenchAgainstServer, WatchLatency) {
  auto json = Bench({"watch-latency", "--watchers", "3", "--total", "10", "--rate", "200", "--prefix",
                     "latency-" + GetParam() + "/"});
  EXPECT_EQ(JsonNumber(json, "requests"), 30);
}

TEST_P(BenchAgainstServer, LeaseKeepAlive) {
  auto json = Bench({"lease-keepalive", "--clients", "4", "--total", "200"});
  EXPECT_EQ(JsonNumber(json, "requests"), 200);
}

TEST_P(BenchAgainstServer, ReadyReportsWhenTheServerAnswered) {
  std::string json;
  ASSERT_EQ(RunCommand({CAIRN_BENCH_BIN, "ready", "--endpoints", endpoint_, "--json"}, &json), 0);
  EXPECT_GT(JsonNumber(json, "ready_monotonic_ns"), 0);
}

INSTANTIATE_TEST_SUITE_P(Servers, BenchAgainstServer, ::testing::Values("etcd", "null", "null-sync", "cairnd"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The sync ceiling of compare-etcd: the null server that writes and syncs each put before answering.
TEST(NullServerSync, EveryPutIsInTheSyncFileWhenAnswered) {
  ServerProcess server("null-sync", CAIRN_NULLSERVER_BIN);
  ASSERT_TRUE(server.ready());
  std::string json;
  ASSERT_EQ(RunCommand({CAIRN_BENCH_BIN, "put", "--endpoints", server.endpoint(), "--clients", "1", "--total", "20",
                        "--sequential-keys", "--key-space-size", "20", "--prefix", "synced/", "--json"},
                       &json),
            0)
      << json;
  std::ifstream in(server.sync_file(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.size(), 16u << 20) << "the file is zero-filled to its full size first";
  size_t found = 0;
  for (size_t at = bytes.find("synced/"); at != std::string::npos; at = bytes.find("synced/", at + 1)) ++found;
  EXPECT_EQ(found, 20u);
}

TEST(BenchTool, FailsClearlyWhenNothingListens) {
  std::string out;
  const std::string endpoint = "127.0.0.1:" + std::to_string(FreePort());
  EXPECT_EQ(RunCommand({CAIRN_BENCH_BIN, "put", "--endpoints", endpoint, "--timeout", "1"}, &out), 1);
  EXPECT_NE(RunCommand({CAIRN_BENCH_BIN, "ready", "--endpoints", endpoint, "--timeout", "0.3"}, &out), 0);
}

TEST(BenchTool, UsageOnBadFlags) {
  std::string out;
  EXPECT_EQ(RunCommand({CAIRN_BENCH_BIN, "put", "--bogus"}, &out), 2);
  EXPECT_EQ(RunCommand({CAIRN_BENCH_BIN, "--help"}, &out), 0);
  EXPECT_NE(out.find("lease-keepalive"), std::string::npos);
}

}  // namespace
