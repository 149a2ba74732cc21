#include "tests/e2e/cairnd_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/loopback_ports.h"

#include "etcdserverpb/rpc.grpc.pb.h"

extern char** environ;

namespace cairn::e2e {

namespace {

using Clock = std::chrono::steady_clock;

int ExitStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string CairndPath() {
  const char* env = std::getenv("CAIRND");
  if (env != nullptr && *env != '\0') return env;
#ifdef CAIRN_DEFAULT_CAIRND
  return CAIRN_DEFAULT_CAIRND;
#else
  return "cairnd";
#endif
}

bool CairndAvailable() { return access(CairndPath().c_str(), X_OK) == 0; }

int FreePort() { return cairn::testing::FreeLoopbackPort(); }

TempDir::TempDir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("cairn-e2e-" + tag + "-XXXXXX")).string();
  const char* made = mkdtemp(pattern.data());
  if (made != nullptr) path_ = made;
}

TempDir::~TempDir() {
  if (path_.empty() || std::getenv("E2E_KEEP") != nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

CairndProcess::CairndProcess(const std::string& work_dir, const std::string& name)
    : data_dir_(work_dir + "/" + name + ".data"),
      log_path_(work_dir + "/" + name + ".log"),
      name_(name),
      client_port_(FreePort()),
      peer_port_(FreePort()),
      endpoint_("127.0.0.1:" + std::to_string(client_port_)) {}

CairndProcess::~CairndProcess() {
  if (pid_ > 0) Stop(SIGKILL, std::chrono::seconds(5));
}

absl::Status CairndProcess::Start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) return absl::FailedPreconditionError("cairnd already running");
  const std::string client = "http://" + endpoint_;
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  const std::vector<std::string> argv = {
      CairndPath(),    "--name",          name_,  "--data-dir", data_dir_, "--listen-client-urls", client,
      "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", name_ + "=" + peer};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> c_args;
  for (const auto& arg : argv) c_args.push_back(const_cast<char*>(arg.c_str()));
  c_args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError("posix_spawn " + argv[0] + " failed: " + std::to_string(rc));
  }

  const auto deadline = Clock::now() + timeout;
  std::string last_error;
  while (Clock::now() < deadline) {
    if (!Running()) return absl::InternalError("cairnd exited during start-up:\n" + LogTail());
    // A fresh channel per probe: a channel that failed to connect waits out gRPC's reconnect backoff.
    auto channel = NewChannel();
    auto kv = etcdserverpb::KV::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    etcdserverpb::RangeRequest request;
    request.set_key("e2e-readiness-probe");
    etcdserverpb::RangeResponse response;
    const grpc::Status status = kv->Range(&context, request, &response);
    if (status.ok()) return absl::OkStatus();
    last_error = status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("cairnd not ready (last error: " + last_error + "):\n" + LogTail());
}

int CairndProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (done < 0) {
      pid_ = -1;
      return -1;
    }
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return ExitStatusOf(status);
}

bool CairndProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string CairndProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

std::shared_ptr<grpc::Channel> CairndProcess::NewChannel() const {
  grpc::ChannelArguments args;
  // A distinct argument value keeps gRPC from sharing one subchannel (connection) between channels.
  static std::atomic<int> channel_counter{0};
  args.SetInt("cairn.e2e.channel", ++channel_counter);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(endpoint_, grpc::InsecureChannelCredentials(), args);
}

}  // namespace cairn::e2e
