#include "server/unimplemented_service.h"

#include "server/errors.h"

namespace cairn::server {
namespace {

class RefuseCall final : public grpc::ServerGenericBidiReactor {
 public:
  explicit RefuseCall(const std::string& method) { Finish(ToGrpcStatus(Unimplemented(method))); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* UnimplementedService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  return new RefuseCall(context->method());
}

}  // namespace cairn::server
