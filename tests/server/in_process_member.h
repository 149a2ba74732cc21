// One cairnd member started in this process, in its own temp dir, on loopback port 0 (client and
// peer), with gRPC stubs to its client port: the set-up the member-level tests share.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/config.h"
#include "server/member.h"

namespace cairn::testing {

class InProcessMember {
 public:
  // `dir_prefix`: how the temp dir's name starts, e.g. "/tmp/cairn-member-test-".
  explicit InProcessMember(const std::string& dir_prefix) {
    std::string tmpl = dir_prefix + "XXXXXX";
    dir_ = mkdtemp(tmpl.data());
  }
  ~InProcessMember() {
    member.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts the member (again, after Stop) on <dir>/data, with `extra_flags` after the loopback
  // URLs. Fails the test on error; call under ASSERT_NO_FATAL_FAILURE.
  void Start(const std::vector<std::string>& extra_flags = {}) {
    auto config = server::ParseFlags(Flags(extra_flags));
    ASSERT_TRUE(config.ok()) << config.status();
    auto started = server::Member::Start(*config);
    ASSERT_TRUE(started.ok()) << started.status();
    member = std::move(*started);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(member->client_ports()[0]),
                                       grpc::InsecureChannelCredentials());
    kv = etcdserverpb::KV::NewStub(channel);
    lease = etcdserverpb::Lease::NewStub(channel);
    auth = etcdserverpb::Auth::NewStub(channel);
    maintenance = etcdserverpb::Maintenance::NewStub(channel);
  }
  void Stop() { member.reset(); }

  // The flags Start uses, for tests that start a second member on the same data dir themselves.
  std::vector<std::string> Flags(const std::vector<std::string>& extra_flags = {}) const {
    std::vector<std::string> args = {"--data-dir", dir_ + "/data", "--listen-client-urls", "http://127.0.0.1:0",
                                     "--listen-peer-urls", "http://127.0.0.1:0"};
    args.insert(args.end(), extra_flags.begin(), extra_flags.end());
    return args;
  }
  const std::string& dir() const { return dir_; }

  std::unique_ptr<server::Member> member;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;

 private:
  std::string dir_;
};

}  // namespace cairn::testing
