#include "tests/concurrency/harness.h"

#include <filesystem>

namespace cairn::concurrency::testing {
namespace {

std::string CairndPath() {
  if (const char* env = std::getenv("CAIRND"); env != nullptr && *env != '\0') return env;
  return std::string(CAIRN_SOURCE_DIR) + "/build/bin/cairnd";
}

bool Answers(const std::shared_ptr<grpc::Channel>& channel) {
  auto kv = etcdserverpb::KV::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  etcdserverpb::RangeRequest request;
  request.set_key("probe");
  etcdserverpb::RangeResponse response;
  return kv->Range(&context, request, &response).ok();
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return connected;
}

}  // namespace

std::unique_ptr<KvServer> KvServer::Start(Kind kind, std::string* why) {
  const std::string binary = kind == Kind::kEtcd ? "/usr/bin/etcd" : CairndPath();
  if (!std::filesystem::exists(binary)) {
    *why = binary + " is missing";
    return nullptr;
  }
  std::unique_ptr<KvServer> server(new KvServer());
  server->dir_ = MakeTempDir(kind == Kind::kEtcd ? "etcd" : "cairnd");
  const std::string client = "http://127.0.0.1:" + std::to_string(FreePort());
  const std::string peer = "http://127.0.0.1:" + std::to_string(FreePort());
  server->endpoint_ = client.substr(std::string("http://").size());
  const std::vector<std::string> argv = {binary,
                                         "--name", "m1",
                                         "--data-dir", server->dir_ + "/data",
                                         "--listen-client-urls", client,
                                         "--advertise-client-urls", client,
                                         "--listen-peer-urls", peer,
                                         "--initial-advertise-peer-urls", peer,
                                         "--initial-cluster", "m1=" + peer};
  if (!server->process_.Start(argv, server->dir_ + "/server.log", /*pipe_stdout=*/false)) {
    *why = "cannot start " + binary;
    return nullptr;
  }
  // Create the channel once the port accepts connections: a channel whose first attempts
  // were refused can sit in back-off for seconds after the server is up.
  const int client_port = std::stoi(client.substr(client.rfind(':') + 1));
  if (!WaitUntil([&] { return Accepts(client_port); })) {
    *why = binary + " did not listen; log: " + ReadFile(server->dir_ + "/server.log");
    return nullptr;
  }
  server->channel_ = grpc::CreateChannel(server->endpoint_, grpc::InsecureChannelCredentials());
  if (!WaitUntil([&] { return Answers(server->channel_); })) {
    *why = binary + " did not answer; log: " + ReadFile(server->dir_ + "/server.log");
    return nullptr;
  }
  return server;
}

KvServer::~KvServer() {
  process_.Stop();
  if (!dir_.empty() && std::getenv("CONC_KEEP") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string KvServer::MissingLeaseOrWatch() {
  auto lease = etcdserverpb::Lease::NewStub(channel_);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    etcdserverpb::LeaseGrantRequest grant;
    grant.set_ttl(10);
    etcdserverpb::LeaseGrantResponse granted;
    grpc::Status status = lease->LeaseGrant(&context, grant, &granted);
    if (!status.ok()) return "LeaseGrant: " + status.error_message();
    grpc::ClientContext revoke_context;
    etcdserverpb::LeaseRevokeRequest revoke;
    revoke.set_id(granted.id());
    etcdserverpb::LeaseRevokeResponse revoked;
    lease->LeaseRevoke(&revoke_context, revoke, &revoked);
  }
  auto watch = etcdserverpb::Watch::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = watch->Watch(&context);
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("probe");
  stream->Write(create);
  etcdserverpb::WatchResponse created;
  if (!stream->Read(&created)) {
    context.TryCancel();
    return "Watch: " + stream->Finish().error_message();
  }
  context.TryCancel();
  stream->Finish();
  return "";
}

InProcessServices::InProcessServices(std::shared_ptr<grpc::Channel> backend)
    : lock_(backend), election_(backend) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&lock_);
  builder.RegisterService(&election_);
  server_ = builder.BuildAndStart();
  endpoint_ = "127.0.0.1:" + std::to_string(port);
}

void InProcessServices::Shutdown(std::chrono::milliseconds grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

}  // namespace cairn::concurrency::testing
