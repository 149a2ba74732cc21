// cairn::e2e — one real cairnd child process on 127.0.0.1 for end-to-end tests.
//
// Contract:
//  - CairndPath(): env CAIRND if set, else the path compiled in as CAIRN_DEFAULT_CAIRND.
//    Tests GTEST_SKIP() when !CairndAvailable().
//  - TempDir owns a fresh directory under $TMPDIR and removes it on destruction
//    (kept when env E2E_KEEP is set, for post-mortems).
//  - CairndProcess owns at most one child at a time. Its client port and data dir are chosen once
//    and reused by every Start(), so a restart serves the same data on the same endpoint.
//    The destructor kills (SIGKILL) a child that is still running: no test leaks a process.
//  - Not thread-safe: one test thread drives it; channels it hands out are thread-safe (gRPC's).
//  - Errors are absl::Status values with the tail of cairnd's log attached.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace cairn::e2e {

std::string CairndPath();
bool CairndAvailable();

// A port no one listens on right now (the kernel's pick for an ephemeral bind on loopback).
int FreePort();

class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class CairndProcess {
 public:
  // `work_dir` holds the data dir and the log; it must outlive the process object.
  explicit CairndProcess(const std::string& work_dir, const std::string& name = "e2e");
  ~CairndProcess();
  CairndProcess(const CairndProcess&) = delete;
  CairndProcess& operator=(const CairndProcess&) = delete;

  // Spawns cairnd and waits (bounded by `timeout`) until a Range answers.
  absl::Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Sends `sig` and waits up to `timeout`; SIGKILLs after that. Returns the exit status as a shell
  // would print it (exit code, or 128 + signal), or -1 when nothing was running.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(15));

  bool Running();
  const std::string& endpoint() const { return endpoint_; }
  const std::string& log_path() const { return log_path_; }
  std::string LogTail(size_t max_bytes = 4000) const;

  // A fresh channel (its own HTTP/2 connection) to the member.
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  std::string data_dir_;
  std::string log_path_;
  std::string name_;
  int client_port_;
  int peer_port_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace cairn::e2e
