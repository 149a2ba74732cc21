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
// The interceptor costs about 1 us of server CPU per call, so the hottest unary methods count
// themselves instead: their service takes a MethodCounter (CountInService), and the interceptor
// leaves them alone.
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
    bool counted_in_service = false;  // see CountInService
  };
  Method* Find(const char* full_method);
  // `full_method`'s service counts its calls itself with the returned counters (see MethodCounter);
  // the interceptor then skips it. Null if the method is not known. Call before serving.
  Method* CountInService(const std::string& full_method);
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

// A unary method's counts kept by its own service: Started() when the handler is entered, Finished()
// with the status the call ends with (a response counts as sent only with OK, as go-grpc-prometheus
// counts it). A default-constructed or null-method counter counts nothing. Thread-safe.
class MethodCounter {
 public:
  MethodCounter() = default;
  explicit MethodCounter(GrpcServerMetrics::Method* method) : method_(method) {}
  void Started() const {
    if (method_ == nullptr) return;
    method_->started->Inc();
    method_->received->Inc();
  }
  void Finished(int code) const {
    if (method_ == nullptr) return;
    method_->handled[code >= 0 && code < 17 ? code : 2]->Inc();  // 2: Unknown
    if (code == 0) method_->sent->Inc();
  }

 private:
  GrpcServerMetrics::Method* method_ = nullptr;
};

// go-grpc-prometheus' name for a status code ("OK", "DeadlineExceeded", ...).
const char* GrpcCodeName(int code);

}  // namespace cairn::metrics
