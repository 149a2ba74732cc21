// Connections, the unary workloads (put, range, txn-put), the ready probe, and the
// dispatch from a workload name to its runner.
#include <netdb.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tools/bench/keys.h"
#include "tools/bench/unary_loop.h"
#include "tools/bench/workloads.h"

namespace cairn::bench {
namespace {

using etcdserverpb::KV;

std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}

grpc::ChannelArguments BaseArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Channels with equal arguments would share one subchannel (one TCP connection).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

template <typename Request, typename Response>
absl::StatusOr<Result> RunUnaryLoops(const Options& o, const Channels& channels,
                                     UnaryCall<KV::Stub, Request, Response> call,
                                     const std::function<typename UnaryLoop<KV::Stub, Request, Response>::Fill(int)>&
                                         make_fill) {
  std::vector<std::unique_ptr<KV::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(KV::NewStub(channel));
  LoadControl control(o.total, o.rate);
  Pacer pacer;
  absl::BlockingCounter done(o.clients);
  std::vector<std::unique_ptr<UnaryLoop<KV::Stub, Request, Response>>> loops;
  for (int i = 0; i < o.clients; ++i) {
    loops.push_back(std::make_unique<UnaryLoop<KV::Stub, Request, Response>>(
        stubs[i % stubs.size()].get(), call, make_fill(i), &control, &pacer, &done, o.timeout_s));
  }
  Result result;
  {
    ProgressBar bar(control, o.total, o.progress && !o.json);
    const double cpu_before = ProcessCpuSeconds();
    control.Start();
    for (auto& loop : loops) loop->Next();
    done.Wait();
    result.seconds = std::chrono::duration<double>(Clock::now() - control.start_time()).count();
    result.client_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  }
  for (const auto& loop : loops) result.latency.Merge(loop->latency());
  result.requests = control.completed();
  result.errors = control.errors();
  result.first_error = control.first_error();
  return result;
}

}  // namespace

absl::StatusOr<Channels> OpenConnections(const Options& o) {
  Channels channels;
  for (int i = 0; i < o.conns; ++i) {
    grpc::ChannelArguments args = BaseArguments();
    args.SetInt("cairn.bench.connection", i);
    const std::string& endpoint = o.endpoints[i % o.endpoints.size()];
    auto channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(DeadlineIn(std::min(o.timeout_s, 10.0)))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", endpoint));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

std::shared_ptr<grpc::Channel> OpenEagerChannel(const std::string& endpoint) {
  grpc::ChannelArguments args = BaseArguments();
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 2);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<Result> RunUnary(const Options& o, const Channels& channels) {
  const std::string value = MakeValue(o.val_size);
  switch (o.workload) {
    case Workload::kPut:
      return RunUnaryLoops<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
          o, channels,
          [](KV::Stub* stub, grpc::ClientContext* c, const etcdserverpb::PutRequest* req,
             etcdserverpb::PutResponse* resp,
             std::function<void(grpc::Status)> done) { stub->async()->Put(c, req, resp, std::move(done)); },
          [&](int client) {
            KeyPicker picker(o.prefix, o.key_size, o.key_space_size, o.sequential_keys, client);
            return [picker, value](int64_t sequence, etcdserverpb::PutRequest* req) mutable {
              req->set_key(picker.Pick(sequence));
              if (req->value().empty()) req->set_value(value);
            };
          });
    case Workload::kRange:
      return RunUnaryLoops<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
          o, channels,
          [](KV::Stub* stub, grpc::ClientContext* c, const etcdserverpb::RangeRequest* req,
             etcdserverpb::RangeResponse* resp,
             std::function<void(grpc::Status)> done) { stub->async()->Range(c, req, resp, std::move(done)); },
          [&](int client) {
            KeyPicker picker(o.prefix, o.key_size, o.key_space_size, o.sequential_keys, client);
            const bool serializable = o.serializable;
            return [picker, serializable](int64_t sequence, etcdserverpb::RangeRequest* req) mutable {
              req->set_key(picker.Pick(sequence));
              req->set_serializable(serializable);
            };
          });
    case Workload::kTxnPut:
      return RunUnaryLoops<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
          o, channels,
          [](KV::Stub* stub, grpc::ClientContext* c, const etcdserverpb::TxnRequest* req,
             etcdserverpb::TxnResponse* resp,
             std::function<void(grpc::Status)> done) { stub->async()->Txn(c, req, resp, std::move(done)); },
          [&](int client) {
            KeyPicker picker(o.prefix, o.key_size, o.key_space_size, o.sequential_keys, client);
            const int ops = o.txn_ops;
            return [picker, value, ops](int64_t sequence, etcdserverpb::TxnRequest* req) mutable {
              if (req->success_size() != ops) {
                req->clear_success();
                for (int i = 0; i < ops; ++i) req->add_success()->mutable_request_put()->set_value(value);
              }
              // Sequential keys stay distinct across a transaction's puts: request n writes
              // keys n*ops .. n*ops+ops-1, so one txn-put run can load a key space.
              for (int i = 0; i < ops; ++i) {
                req->mutable_success(i)->mutable_request_put()->set_key(picker.Pick(sequence * ops + i));
              }
            };
          });
    default:
      return absl::InternalError("not a unary workload");
  }
}

// Polls a plain TCP connect to host:port every millisecond until it is accepted or `give_up`. gRPC
// itself, after one refused connection, waits about 100 ms before trying again whatever backoff it
// is given, which hid start-up times below that. Any form it cannot parse is left to gRPC.
void WaitForListener(const std::string& endpoint, Clock::time_point give_up) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos) return;
  const std::string host = endpoint.substr(0, colon), port = endpoint.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) return;
  while (Clock::now() < give_up) {
    const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    const bool accepted = ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    ::close(fd);
    if (accepted) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::freeaddrinfo(found);
}

absl::StatusOr<Result> RunReady(const Options& o) {
  const auto give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  WaitForListener(o.endpoints.front(), give_up);
  auto channel = OpenEagerChannel(o.endpoints.front());
  auto stub = KV::NewStub(channel);
  Result result;
  std::string last_error = "no attempt";
  while (Clock::now() < give_up) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(DeadlineIn(0.25));
    etcdserverpb::RangeRequest request;
    request.set_key("cairn-bench/ready");
    request.set_serializable(o.serializable);
    etcdserverpb::RangeResponse response;
    ++result.attempts;
    grpc::Status status = stub->Range(&context, request, &response);
    if (status.ok()) {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      result.ready_monotonic_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
      result.requests = 1;
      return result;
    }
    last_error = status.error_message();
    // A server that answers with an error (e.g. no leader yet) is asked again shortly.
    if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat("not ready after ", o.timeout_s, " s: ", last_error));
}

absl::StatusOr<Result> RunWorkload(const Options& o) {
  if (o.workload == Workload::kReady) return RunReady(o);
  absl::StatusOr<Channels> channels = OpenConnections(o);
  if (!channels.ok()) return channels.status();
  switch (o.workload) {
    case Workload::kWatch:
    case Workload::kWatchLatency:
      return RunWatch(o, *channels);
    case Workload::kLeaseKeepAlive:
      return RunLeaseKeepAlive(o, *channels);
    default:
      return RunUnary(o, *channels);
  }
}

}  // namespace cairn::bench
