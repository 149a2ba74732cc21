// The v3 JSON gateway's route table: which gRPC method an HTTP path reaches, as etcd 3.4's
// grpc-gateway registers them (its google.api.http annotations), and how an HTTP request that names
// no route is answered (404 or 405, as grpc-gateway's mux does).
//
// Pure data and lookups: no I/O, safe from any thread.
#pragma once

#include <string>

#include <google/protobuf/descriptor.h>

#include "absl/strings/string_view.h"

namespace cairn::gateway {

enum class CallShape {
  kUnary,
  kServerStream,  // one JSON request object, a stream of {"result": ...} objects back
  kBidiStream,    // every JSON object of the body is sent; results stream back until either side ends
};

struct Route {
  const char* path;          // "/v3/kv/range"
  const char* grpc_method;   // "/etcdserverpb.KV/Range": what the in-process call names
  CallShape shape;
};

enum class Match {
  kRoute,             // `route` is set
  kNotFound,          // under /v3/ but no such route: grpc-gateway's 404 "Not Found"
  kMethodNotAllowed,  // a route, but not POST: grpc-gateway's 405 "Method Not Allowed"
  kNotGateway,        // not under /v3/ or /v3beta/: not the gateway's to answer
};

struct RouteMatch {
  Match match = Match::kNotGateway;
  const Route* route = nullptr;
};

// `path` may carry a query string (ignored). "/v3beta/..." is served as "/v3/..." (etcd 3.4 still
// rewrites that prefix).
RouteMatch MatchRoute(absl::string_view http_method, absl::string_view path);

// The method's descriptor from the generated pool (request and response types); never null for a
// route of the table once the api protos are linked.
const google::protobuf::MethodDescriptor* MethodOf(const Route& route);

// Every route, for tests and documentation.
const Route* AllRoutes(size_t* count);

}  // namespace cairn::gateway
