// Test helpers: child processes (etcd, cairnd, etcdctl, python) on loopback, temp dirs, ports.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/loopback_ports.h"

extern char** environ;

namespace cairn::concurrency::testing {

inline std::string MakeTempDir(const std::string& tag) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("cairn-" + tag + "-XXXXXX")).string();
  char* made = mkdtemp(pattern.data());
  return made == nullptr ? std::string() : std::string(made);
}

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
inline int FreePort() { return cairn::testing::FreeLoopbackPort(); }

// A child process with stdout to a pipe (optional) and stderr to a log file.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(); }

  bool Start(const std::vector<std::string>& argv, const std::string& log_path, bool pipe_stdout) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    int out[2] = {-1, -1};
    if (pipe_stdout) {
      if (pipe(out) != 0) return false;
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
      posix_spawn_file_actions_addclose(&actions, out[0]);
      posix_spawn_file_actions_addclose(&actions, out[1]);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
    posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> c_args;
    for (const auto& a : argv) c_args.push_back(const_cast<char*>(a.c_str()));
    c_args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, c_args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (pipe_stdout) {
      close(out[1]);
      stdout_ = fdopen(out[0], "r");
    }
    if (rc != 0) pid_ = -1;
    return pid_ > 0;
  }

  // Blocks until the child prints a line (without the newline); nullopt at end of output.
  std::optional<std::string> ReadLine() {
    if (stdout_ == nullptr) return std::nullopt;
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdout_);
    std::optional<std::string> result;
    if (n >= 0) {
      result = std::string(line, n);
      if (!result->empty() && result->back() == '\n') result->pop_back();
    }
    free(line);
    return result;
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Waits for the child to exit; returns its exit code (or 128+signal).
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    CloseStdout();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
      }
    }
    CloseStdout();
  }

  pid_t pid() const { return pid_; }

 private:
  void CloseStdout() {
    if (stdout_ != nullptr) fclose(stdout_);
    stdout_ = nullptr;
  }

  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cairn::concurrency::testing
