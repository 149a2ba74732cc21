// JSON <-> protobuf for the v3 gateway, shaped like etcd 3.4's grpc-gateway (runtime.JSONPb with
// OrigName): proto field names ("cluster_id", "ID", "peerURLs"), 64-bit integers as strings,
// bytes as base64, default values left out, unknown request fields ignored. Errors are written the
// way grpc-gateway writes them, with its HTTP status for each gRPC code.
//
// Pure functions: no I/O, safe from any thread.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::gateway {

// Fills `out` from the first JSON value of `json`, read as grpc-gateway's decoder (jsonpb) reads it:
// what follows that value is ignored; a blank body or `null` is an empty request; a `null` member
// is a field left out (a oneof member too); unknown fields are ignored. InvalidArgument for what
// jsonpb refuses, in Go's words where they are known (a body that is not an object, a string for a
// bool, an unknown enum name, a fraction or out-of-range number for an integer, a value of the
// wrong kind), else in protobuf's (malformed JSON, bad base64).
absl::Status JsonToMessage(absl::string_view json, google::protobuf::Message* out);

std::string MessageToJson(const google::protobuf::Message& message);

// grpc-gateway's HTTPStatusFromCode.
int HttpStatusForGrpcCode(int grpc_code);
// "Not Found", "Bad Request", ... (Go's http.StatusText); "" for an unknown status.
const char* HttpStatusText(int http_status);

// A failed unary call: {"error":msg,"message":msg,"code":N}.
std::string ErrorJson(int grpc_code, absl::string_view message);
// One message of a stream: {"result":<message>}.
std::string StreamResultJson(const google::protobuf::Message& message);
// A stream that ended with an error:
// {"error":{"grpc_code":N,"http_code":H,"message":msg,"http_status":"..."}}.
std::string StreamErrorJson(int grpc_code, absl::string_view message);

// The consecutive JSON values of a streaming request body ('{..}{..}' or separated by
// whitespace), each as its own slice of `body`. An unterminated last value is returned as it is
// (its parse fails later, in order, as grpc-gateway's decoder fails on it).
std::vector<absl::string_view> SplitJsonValues(absl::string_view body);

// For a body still arriving: appends the complete objects (or arrays) at the front of `body` to
// `out` and returns how many bytes they take; what follows them (a value cut short, or a bare
// scalar that may still grow) is left for later.
size_t TakeCompleteJsonObjects(absl::string_view body, std::vector<absl::string_view>* out);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace cairn::gateway
