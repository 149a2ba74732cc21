// Call counting by the interceptor, on a real gRPC server over loopback: started/handled by code,
// messages each way, every method listed at 0 before any call.
#include "server/metrics/grpc_metrics.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace cairn::metrics {
namespace {

class FakeKv final : public etcdserverpb::KV::CallbackService {
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context, const etcdserverpb::PutRequest*,
                                etcdserverpb::PutResponse*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* context, const etcdserverpb::RangeRequest*,
                                  etcdserverpb::RangeResponse*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"));
    return reactor;
  }
};

std::string Line(const std::string& name, const std::string& labels, int value) {
  return name + "{" + labels + "} " + std::to_string(value) + "\n";
}

// Serves FakeKv on loopback with `metrics`' interceptor, and calls it: `puts` Puts (OK), then one
// Range (OUT_OF_RANGE).
void CallFakeKv(GrpcServerMetrics* metrics, int puts) {
  FakeKv kv;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&kv);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(metrics->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = etcdserverpb::KV::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < puts; ++i) {
    grpc::ClientContext ctx;
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(stub->Put(&ctx, etcdserverpb::PutRequest(), &resp).ok());
  }
  grpc::ClientContext ctx;
  etcdserverpb::RangeResponse resp;
  EXPECT_EQ(stub->Range(&ctx, etcdserverpb::RangeRequest(), &resp).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  server->Shutdown();
}

TEST(GrpcMetricsTest, CountsCallsByMethodAndCode) {
  Registry registry;
  GrpcServerMetrics metrics(&registry, {"etcdserverpb.KV", "etcdserverpb.Watch", "no.such.Service"});
  const std::string before = registry.Render();
  // Pre-registered at 0, as go-grpc-prometheus' InitializeMetrics does, with etcd's label order.
  EXPECT_NE(before.find(Line("grpc_server_handled_total",
                             "grpc_code=\"OK\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"", 0)),
            std::string::npos)
      << before;
  EXPECT_NE(before.find(Line("grpc_server_started_total",
                             "grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"", 0)),
            std::string::npos);
  EXPECT_NE(before.find("grpc_code=\"Unauthenticated\",grpc_method=\"Compact\""), std::string::npos);
  EXPECT_EQ(before.find("no.such.Service"), std::string::npos);

  CallFakeKv(&metrics, /*puts=*/3);
  // gRPC gave every call of a method the same name address: no string lookup after the first call.
  EXPECT_EQ(metrics.cached_addresses(), 2u);

  const std::string put = "grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
  const std::string range = "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
  const std::string text = registry.Render();
  EXPECT_NE(text.find(Line("grpc_server_started_total", put, 3)), std::string::npos) << text;
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"OK\"," + put, 3)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_msg_received_total", put, 3)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_msg_sent_total", put, 3)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"OutOfRange\"," + range, 1)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"OK\"," + range, 0)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_started_total", range, 1)), std::string::npos);
}

TEST(GrpcMetricsTest, FindsMethodsByNameAndUnknownOnesAsNull) {
  Registry registry;
  GrpcServerMetrics metrics(&registry, {"etcdserverpb.KV"});
  const std::string name = "/etcdserverpb.KV/Txn";
  GrpcServerMetrics::Method* m = metrics.Find(name.c_str());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(metrics.Find(name.c_str()), m);  // the cached address
  EXPECT_EQ(metrics.Find(std::string(name).c_str()), m);  // another address, same name
  EXPECT_EQ(metrics.Find("/etcdserverpb.KV/Nope"), nullptr);
  EXPECT_EQ(metrics.Find(nullptr), nullptr);
  EXPECT_STREQ(GrpcCodeName(4), "DeadlineExceeded");
}

// A method its service counts itself: the interceptor leaves it alone (no double counting), and
// MethodCounter counts a response as sent only when the call ends OK.
TEST(GrpcMetricsTest, MethodsCountedInServiceAreSkippedByTheInterceptor) {
  Registry registry;
  GrpcServerMetrics metrics(&registry, {"etcdserverpb.KV"});
  EXPECT_EQ(metrics.CountInService("/etcdserverpb.KV/Nope"), nullptr);
  const MethodCounter put(metrics.CountInService("/etcdserverpb.KV/Put"));

  CallFakeKv(&metrics, /*puts=*/2);

  const std::string put_labels = "grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
  const std::string range_labels = "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
  std::string text = registry.Render();
  EXPECT_NE(text.find(Line("grpc_server_started_total", put_labels, 0)), std::string::npos) << text;
  EXPECT_NE(text.find(Line("grpc_server_started_total", range_labels, 1)), std::string::npos) << text;

  put.Started();
  put.Finished(0);
  put.Started();
  put.Finished(9);   // FailedPrecondition
  put.Finished(99);  // not a code: counted as Unknown
  MethodCounter().Started();  // counts nothing, and does not crash
  text = registry.Render();
  EXPECT_NE(text.find(Line("grpc_server_started_total", put_labels, 2)), std::string::npos) << text;
  EXPECT_NE(text.find(Line("grpc_server_msg_received_total", put_labels, 2)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_msg_sent_total", put_labels, 1)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"OK\"," + put_labels, 1)), std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"FailedPrecondition\"," + put_labels, 1)),
            std::string::npos);
  EXPECT_NE(text.find(Line("grpc_server_handled_total", "grpc_code=\"Unknown\"," + put_labels, 1)), std::string::npos);
}

}  // namespace
}  // namespace cairn::metrics
