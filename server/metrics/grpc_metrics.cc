#include "server/metrics/grpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <functional>

namespace cairn::metrics {
namespace {

constexpr const char* kCodeNames[17] = {
    "OK",       "Canceled",          "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"};

const char* CallType(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming()) return "bidi_stream";
  if (m.client_streaming()) return "client_stream";
  if (m.server_streaming()) return "server_stream";
  return "unary";
}

class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(GrpcServerMetrics::Method* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* batch) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (batch->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE) && batch->GetRecvMessage() != nullptr) {
      method_->received->Inc();
    }
    if (batch->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) method_->sent->Inc();
    if (batch->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(batch->GetSendStatus().error_code());
      method_->handled[code >= 0 && code < 17 ? code : 2]->Inc();  // 2: Unknown
    }
    batch->Proceed();
  }

 private:
  GrpcServerMetrics::Method* const method_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(GrpcServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    GrpcServerMetrics::Method* method = metrics_->Find(info->method());
    if (method == nullptr || method->counted_in_service) return nullptr;
    method->started->Inc();
    return new CountingInterceptor(method);
  }

 private:
  GrpcServerMetrics* const metrics_;
};

}  // namespace

const char* GrpcCodeName(int code) { return code >= 0 && code < 17 ? kCodeNames[code] : "Unknown"; }

GrpcServerMetrics::GrpcServerMetrics(Registry* registry, const std::vector<std::string>& services) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& service_name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(service_name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor& m = *service->method(i);
      auto method = std::make_unique<Method>();
      // Label names in Prometheus' order (sorted), as etcd prints them.
      const Labels labels = {{"grpc_method", m.name()}, {"grpc_service", service_name}, {"grpc_type", CallType(m)}};
      method->started = registry->AddCounter("grpc_server_started_total", "Total number of RPCs started on the server.",
                                             labels);
      for (int code = 0; code < 17; ++code) {
        Labels with_code = labels;
        with_code.insert(with_code.begin(), {"grpc_code", kCodeNames[code]});
        method->handled[code] = registry->AddCounter(
            "grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.",
            with_code);
      }
      method->received = registry->AddCounter("grpc_server_msg_received_total",
                                              "Total number of RPC stream messages received on the server.", labels);
      method->sent = registry->AddCounter("grpc_server_msg_sent_total",
                                          "Total number of gRPC stream messages sent by the server.", labels);
      by_name_["/" + service_name + "/" + m.name()] = std::move(method);
    }
  }
}

GrpcServerMetrics::~GrpcServerMetrics() = default;

GrpcServerMetrics::Method* GrpcServerMetrics::CountInService(const std::string& full_method) {
  auto it = by_name_.find(full_method);
  if (it == by_name_.end()) return nullptr;
  it->second->counted_in_service = true;
  return it->second.get();
}

GrpcServerMetrics::Method* GrpcServerMetrics::Find(const char* full_method) {
  if (full_method == nullptr) return nullptr;
  // gRPC hands every call of a registered method the same name pointer: the address is the key.
  const size_t home = std::hash<const void*>()(full_method) * 0x9E3779B97F4A7C15ull >> 55;  // 9 bits
  for (size_t probe = 0; probe < kCacheSize; ++probe) {
    const CacheEntry* e = cache_[(home + probe) & (kCacheSize - 1)].load(std::memory_order_acquire);
    if (e == nullptr) break;
    if (e->key == full_method) return e->method;
  }
  // First call of this method (through this pointer): the string lookup, then remember the address.
  auto it = by_name_.find(full_method);
  Method* method = it == by_name_.end() ? nullptr : it->second.get();
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (size_t probe = 0; probe < kCacheSize; ++probe) {
    std::atomic<CacheEntry*>& slot = cache_[(home + probe) & (kCacheSize - 1)];
    CacheEntry* e = slot.load(std::memory_order_acquire);
    if (e != nullptr && e->key == full_method) break;  // another thread got here first
    if (e == nullptr) {
      cache_entries_.push_back(std::make_unique<CacheEntry>(CacheEntry{full_method, method}));
      slot.store(cache_entries_.back().get(), std::memory_order_release);
      break;
    }
  }
  return method;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcServerMetrics::InterceptorFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace cairn::metrics
