// go-grpc-prometheus' server metrics for cairnd's client port, as etcd 3.4 serves them with its
// default --metrics=basic (no handling-time histogram):
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_msg_received_total / grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
// Every method of the services named at construction gets its series (every code for handled) at 0
// up front, as go-grpc-prometheus' InitializeMetrics does, so rate() works from the first scrape.
//
// Counting is a gRPC server interceptor (InterceptorFactory()): per call it allocates one small
// interceptor, finds the method's counters by the address of gRPC's method name (a small lock-free
// table; a string lookup only the first time a method is seen) and does relaxed atomic increments.
// Calls to methods not named at construction (unknown methods) are not counted.
//
// Thread safety: everything is thread-safe. Lifetime: the GrpcServerMetrics must outlive the
// grpc::Server it is installed on (the factory refers to it).
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/metrics/registry.h"

namespace cairn::metrics {

class GrpcServerMetrics {
 public:
  // `services`: full protobuf service names ("etcdserverpb.KV"), looked up in the generated
  // descriptor pool; names it does not know are skipped.
  GrpcServerMetrics(Registry* registry, const std::vector<std::string>& services);
  ~GrpcServerMetrics();

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // The counters of one method; null if the method ("/pkg.Service/Method") is not known.
  struct Method {
    Counter* started = nullptr;
    Counter* handled[17] = {};  // by grpc::StatusCode 0..16
    Counter* received = nullptr;
    Counter* sent = nullptr;
  };
  Method* Find(const char* full_method);
  // Distinct name addresses seen so far (stays at the number of methods called: gRPC reuses them).
  size_t cached_addresses() {
    std::lock_guard<std::mutex> lock(cache_mu_);
    return cache_entries_.size();
  }

 private:
  static constexpr size_t kCacheSize = 512;  // a power of two, well above the number of methods
  struct CacheEntry {
    const char* key;
    Method* method;
  };

  absl::flat_hash_map<std::string, std::unique_ptr<Method>> by_name_;  // immutable after construction
  std::atomic<CacheEntry*> cache_[kCacheSize] = {};
  std::mutex cache_mu_;  // inserts only
  std::vector<std::unique_ptr<CacheEntry>> cache_entries_;
};

// go-grpc-prometheus' name for a status code ("OK", "DeadlineExceeded", ...).
const char* GrpcCodeName(int code);

}  // namespace cairn::metrics
