// Catches every RPC no registered service handles and answers UNIMPLEMENTED with a message that
// names the method ("cairn: /etcdserverpb.Auth/AuthEnable is not implemented yet"), instead of
// gRPC's bare UNIMPLEMENTED, so a user knows exactly what Cairn does not serve yet.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

namespace cairn::server {

class UnimplementedService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override;
};

}  // namespace cairn::server
