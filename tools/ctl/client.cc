#include "tools/ctl/client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace cairn::ctl {
namespace {

using namespace etcdserverpb;  // NOLINT: every RPC type of the etcd API is used below
using Clock = std::chrono::system_clock;

const char* GoCodeName(int code) {
  static const char* kNames[] = {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                                 "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                                 "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
                                 "Internal", "Unavailable", "DataLoss", "Unauthenticated"};
  return code >= 0 && code <= 16 ? kNames[code] : "Unknown";
}

absl::Status ToStatus(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      EtcdErrorText(s.error_code(), s.error_message()));
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  *ok = in.good() || in.eof();
  return ss.str();
}

// One endpoint: its channel and a stub per service.
struct Endpoint {
  std::string name;  // as given by the user, for messages
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<KV::Stub> kv;
  std::unique_ptr<Watch::Stub> watch;
  std::unique_ptr<Lease::Stub> lease;
  std::unique_ptr<Cluster::Stub> cluster;
  std::unique_ptr<Maintenance::Stub> maintenance;
  std::unique_ptr<Auth::Stub> auth;
  std::unique_ptr<v3lockpb::Lock::Stub> lock;
  std::unique_ptr<v3electionpb::Election::Stub> election;
};

absl::StatusOr<std::shared_ptr<Endpoint>> MakeEndpoint(const ClientConfig& cfg, const std::string& ep) {
  std::string target = ep;
  // A name to verify (--insecure-discovery=false) means TLS for every endpoint, as in etcdctl.
  bool tls = !cfg.insecure_transport || !cfg.cacert.empty() || !cfg.cert.empty() || !cfg.tls_server_name.empty();
  if (absl::StartsWith(target, "http://")) {
    target = target.substr(7);
  } else if (absl::StartsWith(target, "https://")) {
    target = target.substr(8);
    tls = true;
  } else if (absl::StartsWith(target, "unix://") || absl::StartsWith(target, "unixs://")) {
    target = "unix:" + target.substr(target.find("://") + 3);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls) {
    grpc::SslCredentialsOptions opts;
    bool ok = true;
    if (!cfg.cacert.empty()) opts.pem_root_certs = ReadFile(cfg.cacert, &ok);
    if (ok && !cfg.cert.empty()) opts.pem_cert_chain = ReadFile(cfg.cert, &ok);
    if (ok && !cfg.key.empty()) opts.pem_private_key = ReadFile(cfg.key, &ok);
    if (!ok) return absl::InvalidArgumentError("open TLS file: no such file or directory");
    if (cfg.insecure_skip_verify) {
      // Encrypted but unauthenticated, for tests only (as the flag's help says).
      std::vector<grpc::experimental::IdentityKeyCertPair> pairs;
      if (!opts.pem_cert_chain.empty()) pairs.push_back({opts.pem_private_key, opts.pem_cert_chain});
      auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(opts.pem_root_certs, pairs);
      grpc::experimental::TlsChannelCredentialsOptions tls_opts;
      tls_opts.set_certificate_provider(provider);
      if (!opts.pem_root_certs.empty()) tls_opts.watch_root_certs();
      if (!pairs.empty()) tls_opts.watch_identity_key_cert_pairs();
      tls_opts.set_verify_server_certs(false);
      tls_opts.set_check_call_host(false);
      creds = grpc::experimental::TlsCredentials(tls_opts);
    } else {
      creds = grpc::SslCredentials(opts);
    }
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Separate sockets per endpoint object so ForEndpoint() really talks to that member.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (cfg.keepalive_time_ns > 0) {
    constexpr int64_t kMinPingMs = 10'000;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                static_cast<int>(std::min<int64_t>(INT32_MAX, std::max(kMinPingMs, cfg.keepalive_time_ns / 1'000'000))));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(std::min<int64_t>(INT32_MAX, std::max<int64_t>(1, cfg.keepalive_timeout_ns / 1'000'000))));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    // A quiet watch sends no data; keep pinging it anyway (gRPC stops after 2 by default).
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (tls && !cfg.tls_server_name.empty()) args.SetSslTargetNameOverride(cfg.tls_server_name);
  auto e = std::make_shared<Endpoint>();
  e->name = ep;
  e->channel = grpc::CreateCustomChannel(target, creds, args);
  e->kv = KV::NewStub(e->channel);
  e->watch = Watch::NewStub(e->channel);
  e->lease = Lease::NewStub(e->channel);
  e->cluster = Cluster::NewStub(e->channel);
  e->maintenance = Maintenance::NewStub(e->channel);
  e->auth = Auth::NewStub(e->channel);
  e->lock = v3lockpb::Lock::NewStub(e->channel);
  e->election = v3electionpb::Election::NewStub(e->channel);
  return e;
}

template <typename Resp, typename Stream>
class StreamBase {
 protected:
  grpc::ClientContext ctx_;
  std::unique_ptr<Stream> stream_;
  std::mutex write_mu_;
};

class GrpcWatchStream : public WatchStream,
                        StreamBase<WatchResponse, grpc::ClientReaderWriter<WatchRequest, WatchResponse>> {
 public:
  GrpcWatchStream(Endpoint& ep, const std::string& token) {
    ctx_.AddMetadata("hasleader", "true");
    if (!token.empty()) ctx_.AddMetadata("token", token);
    stream_ = ep.watch->Watch(&ctx_);
  }
  bool Send(const WatchRequest& req) override {
    std::lock_guard<std::mutex> l(write_mu_);
    return stream_->Write(req);
  }
  bool Read(WatchResponse* resp) override { return stream_->Read(resp); }
  void Cancel() override { ctx_.TryCancel(); }
  absl::Status Finish() override { return ToStatus(stream_->Finish()); }
};

class GrpcKeepAliveStream
    : public KeepAliveStream,
      StreamBase<LeaseKeepAliveResponse, grpc::ClientReaderWriter<LeaseKeepAliveRequest, LeaseKeepAliveResponse>> {
 public:
  GrpcKeepAliveStream(Endpoint& ep, const std::string& token) {
    if (!token.empty()) ctx_.AddMetadata("token", token);
    stream_ = ep.lease->LeaseKeepAlive(&ctx_);
  }
  bool Send(int64_t id) override {
    LeaseKeepAliveRequest req;
    req.set_id(id);
    std::lock_guard<std::mutex> l(write_mu_);
    return stream_->Write(req);
  }
  bool Read(LeaseKeepAliveResponse* resp) override { return stream_->Read(resp); }
  void Cancel() override { ctx_.TryCancel(); }
  absl::Status Finish() override { return ToStatus(stream_->Finish()); }
};

class GrpcObserveStream : public ObserveStream {
 public:
  GrpcObserveStream(Endpoint& ep, const std::string& token, const v3electionpb::LeaderRequest& req) {
    if (!token.empty()) ctx_.AddMetadata("token", token);
    reader_ = ep.election->Observe(&ctx_, req);
  }
  bool Read(v3electionpb::LeaderResponse* resp) override { return reader_->Read(resp); }
  void Cancel() override { ctx_.TryCancel(); }
  absl::Status Finish() override { return ToStatus(reader_->Finish()); }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v3electionpb::LeaderResponse>> reader_;
};

class GrpcClient : public Client {
 public:
  GrpcClient(ClientConfig cfg, std::vector<std::shared_ptr<Endpoint>> eps, size_t current, std::string token)
      : cfg_(std::move(cfg)), eps_(std::move(eps)), current_(current), token_(std::move(token)) {}

  absl::StatusOr<std::unique_ptr<Client>> ForEndpoint(const std::string& endpoint) override {
    auto ep = MakeEndpoint(cfg_, endpoint);
    if (!ep.ok()) return ep.status();
    ClientConfig one = cfg_;
    one.endpoints = {endpoint};
    return std::unique_ptr<Client>(new GrpcClient(one, {*ep}, 0, token_));
  }

  std::vector<std::string> Endpoints() const override {
    std::vector<std::string> out;
    for (const auto& e : eps_) out.push_back(e->name);
    return out;
  }

  absl::Status Authenticate() {
    AuthenticateRequest req;
    req.set_name(cfg_.user);
    req.set_password(cfg_.password);
    token_.clear();
    auto resp = Unary<AuthenticateResponse>(
        [&](Endpoint& e, grpc::ClientContext* c, AuthenticateResponse* r) { return e.auth->Authenticate(c, req, r); });
    if (!resp.ok()) return resp.status();
    token_ = resp->token();
    return absl::OkStatus();
  }

#define CAIRN_UNARY(Method, Service, Rpc, Req, Resp)                                          \
  Result<Resp> Method(const Req& req) override {                                             \
    return Unary<Resp>([&](Endpoint& e, grpc::ClientContext* c, Resp* r) {                   \
      return e.Service->Rpc(c, req, r);                                                      \
    });                                                                                      \
  }
  CAIRN_UNARY(Range, kv, Range, RangeRequest, RangeResponse)
  CAIRN_UNARY(Put, kv, Put, PutRequest, PutResponse)
  CAIRN_UNARY(DeleteRange, kv, DeleteRange, DeleteRangeRequest, DeleteRangeResponse)
  CAIRN_UNARY(Txn, kv, Txn, TxnRequest, TxnResponse)
  CAIRN_UNARY(Compact, kv, Compact, CompactionRequest, CompactionResponse)
  CAIRN_UNARY(LeaseGrant, lease, LeaseGrant, LeaseGrantRequest, LeaseGrantResponse)
  CAIRN_UNARY(LeaseRevoke, lease, LeaseRevoke, LeaseRevokeRequest, LeaseRevokeResponse)
  CAIRN_UNARY(LeaseTimeToLive, lease, LeaseTimeToLive, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse)
  CAIRN_UNARY(LeaseLeases, lease, LeaseLeases, LeaseLeasesRequest, LeaseLeasesResponse)
  CAIRN_UNARY(MemberAdd, cluster, MemberAdd, MemberAddRequest, MemberAddResponse)
  CAIRN_UNARY(MemberRemove, cluster, MemberRemove, MemberRemoveRequest, MemberRemoveResponse)
  CAIRN_UNARY(MemberUpdate, cluster, MemberUpdate, MemberUpdateRequest, MemberUpdateResponse)
  CAIRN_UNARY(MemberList, cluster, MemberList, MemberListRequest, MemberListResponse)
  CAIRN_UNARY(MemberPromote, cluster, MemberPromote, MemberPromoteRequest, MemberPromoteResponse)
  CAIRN_UNARY(Alarm, maintenance, Alarm, AlarmRequest, AlarmResponse)
  CAIRN_UNARY(Status, maintenance, Status, StatusRequest, StatusResponse)
  CAIRN_UNARY(Defragment, maintenance, Defragment, DefragmentRequest, DefragmentResponse)
  CAIRN_UNARY(HashKV, maintenance, HashKV, HashKVRequest, HashKVResponse)
  CAIRN_UNARY(MoveLeader, maintenance, MoveLeader, MoveLeaderRequest, MoveLeaderResponse)
  CAIRN_UNARY(AuthEnable, auth, AuthEnable, AuthEnableRequest, AuthEnableResponse)
  CAIRN_UNARY(AuthDisable, auth, AuthDisable, AuthDisableRequest, AuthDisableResponse)
  CAIRN_UNARY(AuthStatus, auth, AuthStatus, AuthStatusRequest, AuthStatusResponse)
  CAIRN_UNARY(UserAdd, auth, UserAdd, AuthUserAddRequest, AuthUserAddResponse)
  CAIRN_UNARY(UserGet, auth, UserGet, AuthUserGetRequest, AuthUserGetResponse)
  CAIRN_UNARY(UserList, auth, UserList, AuthUserListRequest, AuthUserListResponse)
  CAIRN_UNARY(UserDelete, auth, UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse)
  CAIRN_UNARY(UserChangePassword, auth, UserChangePassword, AuthUserChangePasswordRequest, AuthUserChangePasswordResponse)
  CAIRN_UNARY(UserGrantRole, auth, UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse)
  CAIRN_UNARY(UserRevokeRole, auth, UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse)
  CAIRN_UNARY(RoleAdd, auth, RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse)
  CAIRN_UNARY(RoleGet, auth, RoleGet, AuthRoleGetRequest, AuthRoleGetResponse)
  CAIRN_UNARY(RoleList, auth, RoleList, AuthRoleListRequest, AuthRoleListResponse)
  CAIRN_UNARY(RoleDelete, auth, RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse)
  CAIRN_UNARY(RoleGrantPermission, auth, RoleGrantPermission, AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse)
  CAIRN_UNARY(RoleRevokePermission, auth, RoleRevokePermission, AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse)
  CAIRN_UNARY(Unlock, lock, Unlock, v3lockpb::UnlockRequest, v3lockpb::UnlockResponse)
  CAIRN_UNARY(Resign, election, Resign, v3electionpb::ResignRequest, v3electionpb::ResignResponse)
#undef CAIRN_UNARY

  void PutAsync(const PutRequest& req, std::function<void(absl::Status)> done) override {
    // The call's state lives until gRPC reports its outcome, then frees itself.
    struct Call {
      grpc::ClientContext ctx;
      PutRequest req;
      PutResponse resp;
      std::function<void(absl::Status)> done;
    };
    auto* call = new Call;
    call->req = req;
    call->done = std::move(done);
    if (!token_.empty()) call->ctx.AddMetadata("token", token_);
    Current().kv->async()->Put(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) {
      call->done(s.ok() ? absl::OkStatus() : ToStatus(s));
      delete call;
    });
  }

  Result<v3lockpb::LockResponse> Lock(const v3lockpb::LockRequest& req, Interrupt* interrupt) override {
    return Waiting<v3lockpb::LockResponse>(interrupt, [&](Endpoint& e, grpc::ClientContext* c, v3lockpb::LockResponse* r) {
      return e.lock->Lock(c, req, r);
    });
  }
  Result<v3electionpb::CampaignResponse> Campaign(const v3electionpb::CampaignRequest& req,
                                                  Interrupt* interrupt) override {
    return Waiting<v3electionpb::CampaignResponse>(
        interrupt, [&](Endpoint& e, grpc::ClientContext* c, v3electionpb::CampaignResponse* r) {
          return e.election->Campaign(c, req, r);
        });
  }
  absl::StatusOr<std::unique_ptr<ObserveStream>> Observe(const v3electionpb::LeaderRequest& req) override {
    return std::unique_ptr<ObserveStream>(new GrpcObserveStream(Current(), token_, req));
  }

  absl::Status Snapshot(const std::function<bool(const std::string&)>& sink) override {
    grpc::ClientContext ctx;
    if (!token_.empty()) ctx.AddMetadata("token", token_);
    SnapshotRequest req;
    auto reader = Current().maintenance->Snapshot(&ctx, req);
    SnapshotResponse resp;
    while (reader->Read(&resp)) {
      if (!sink(resp.blob())) {
        ctx.TryCancel();
        break;
      }
    }
    return ToStatus(reader->Finish());
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch() override {
    return std::unique_ptr<WatchStream>(new GrpcWatchStream(Current(), token_));
  }
  absl::StatusOr<std::unique_ptr<KeepAliveStream>> KeepAlive() override {
    return std::unique_ptr<KeepAliveStream>(new GrpcKeepAliveStream(Current(), token_));
  }

 private:
  Endpoint& Current() {
    std::lock_guard<std::mutex> l(mu_);
    return *eps_[current_];
  }

  template <typename Resp, typename Fn>
  Result<Resp> Unary(Fn fn) {
    auto deadline = Clock::now() + std::chrono::nanoseconds(cfg_.command_timeout_ns);
    size_t start;
    {
      std::lock_guard<std::mutex> l(mu_);
      start = current_;
    }
    grpc::Status last;
    for (size_t attempt = 0; attempt < eps_.size(); ++attempt) {
      size_t idx = (start + attempt) % eps_.size();
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      // A fresh endpoint may still be connecting; give the last candidate the whole
      // deadline, fail fast on the others so another endpoint can take over.
      ctx.set_wait_for_ready(attempt + 1 == eps_.size() || eps_.size() == 1);
      if (!token_.empty()) ctx.AddMetadata("token", token_);
      Resp resp;
      last = fn(*eps_[idx], &ctx, &resp);
      if (last.ok()) {
        std::lock_guard<std::mutex> l(mu_);
        current_ = idx;
        return resp;
      }
      if (last.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      if (Clock::now() >= deadline) break;
    }
    return ToStatus(last);
  }

  // A call that may wait as long as it takes (no deadline) on the current endpoint, unless
  // `interrupt` fires.
  template <typename Resp, typename Fn>
  Result<Resp> Waiting(Interrupt* interrupt, Fn fn) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    if (!token_.empty()) ctx.AddMetadata("token", token_);
    if (interrupt != nullptr) interrupt->Arm([&ctx] { ctx.TryCancel(); });
    Resp resp;
    const grpc::Status s = fn(Current(), &ctx, &resp);
    if (interrupt != nullptr) interrupt->Disarm();
    if (!s.ok()) return ToStatus(s);
    return resp;
  }

  ClientConfig cfg_;
  std::vector<std::shared_ptr<Endpoint>> eps_;
  std::mutex mu_;
  size_t current_;
  std::string token_;
};

// Dials all endpoints at once and returns the index of the first that is READY, or -1 at
// the deadline. State changes are watched through a completion queue because that is what
// drives gRPC's I/O while no call is in flight; short watch slices keep the final drain quick.
int WaitForAnyReady(const std::vector<std::shared_ptr<Endpoint>>& eps, Clock::time_point deadline) {
  grpc::CompletionQueue cq;
  int pending = 0;
  int ready = -1;
  auto watch = [&](size_t i) {
    grpc_connectivity_state st = eps[i]->channel->GetState(true);
    if (st == GRPC_CHANNEL_READY) {
      ready = static_cast<int>(i);
      return;
    }
    auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
    eps[i]->channel->NotifyOnStateChange(st, slice, &cq, reinterpret_cast<void*>(i));
    ++pending;
  };
  for (size_t i = 0; i < eps.size() && ready < 0; ++i) watch(i);
  while (pending > 0) {
    void* tag;
    bool ok;
    if (!cq.Next(&tag, &ok)) break;
    --pending;
    if (ready >= 0) continue;  // draining
    size_t i = reinterpret_cast<size_t>(tag);
    if (Clock::now() < deadline) {
      watch(i);
    } else if (eps[i]->channel->GetState(false) == GRPC_CHANNEL_READY) {
      ready = static_cast<int>(i);
    }
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  // Prefer the endpoints in the order given: an earlier one that is merely a little slower
  // to connect gets a short grace period.
  if (ready > 0) {
    auto grace = std::min(deadline, Clock::now() + std::chrono::milliseconds(100));
    for (int j = 0; j < ready; ++j) {
      if (eps[j]->channel->WaitForConnected(grace)) return j;
    }
  }
  return ready;
}

}  // namespace

void Interrupt::Fire() {
  std::lock_guard<std::mutex> l(mu_);
  fired_ = true;
  if (cancel_) cancel_();
}

bool Interrupt::fired() const {
  std::lock_guard<std::mutex> l(mu_);
  return fired_;
}

void Interrupt::Arm(std::function<void()> cancel) {
  std::lock_guard<std::mutex> l(mu_);
  cancel_ = std::move(cancel);
  if (fired_) cancel_();
}

void Interrupt::Disarm() {
  std::lock_guard<std::mutex> l(mu_);
  cancel_ = nullptr;
}

std::string EtcdErrorText(int code, const std::string& message) {
  // etcd's client turns its own server errors into their bare message; a deadline that
  // the client set itself reads as Go's context error; anything else keeps gRPC's form.
  if (absl::StartsWith(message, "etcdserver: ")) return message;
  if (code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)) return "context deadline exceeded";
  if (code == static_cast<int>(grpc::StatusCode::CANCELLED)) return "context canceled";
  return absl::StrCat("rpc error: code = ", GoCodeName(code), " desc = ", message);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientConfig& cfg) {
  if (cfg.endpoints.empty()) return absl::InvalidArgumentError("no endpoints available");
  std::vector<std::shared_ptr<Endpoint>> eps;
  for (const auto& name : cfg.endpoints) {
    auto ep = MakeEndpoint(cfg, name);
    if (!ep.ok()) return ep.status();
    eps.push_back(*ep);
  }
  int ready = WaitForAnyReady(eps, Clock::now() + std::chrono::nanoseconds(cfg.dial_timeout_ns));
  // Like clientv3, an unreachable cluster is not an error yet: each request then fails on
  // its own deadline with "context deadline exceeded", wrapped the way its command
  // wraps errors.
  if (ready < 0) ready = 0;
  if (cfg.debug && eps[ready]->channel->GetState(false) == GRPC_CHANNEL_READY) {
    std::fprintf(stderr, "cairnctl: using endpoint %s\n", cfg.endpoints[ready].c_str());
  }
  auto client = std::make_unique<GrpcClient>(cfg, std::move(eps), static_cast<size_t>(ready), "");
  if (!cfg.user.empty()) {
    absl::Status st = client->Authenticate();
    if (!st.ok()) return st;
  }
  return std::unique_ptr<Client>(std::move(client));
}

}  // namespace cairn::ctl
