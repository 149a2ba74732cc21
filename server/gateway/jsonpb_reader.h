// Reads a gateway request body's JSON the way etcd 3.4's grpc-gateway decoder (Go's encoding/json
// under golang/protobuf's jsonpb) reads it, and rewrites it into JSON that protobuf's own parser
// takes to mean the same request.
//
// The two disagree: jsonpb takes `null` (a member, a oneof member) as absent, refuses an unknown
// enum name, a string for a bool, a fraction for an integer, trailing commas and single quotes, and
// trims blanks inside a quoted integer; protobuf's parser drops an unknown enum name silently, takes
// a null oneof member as that member set, and accepts "true", 1.0 and more. The rewrite walks the
// value along the message's descriptor: unknown and null members left out, integers as canonical
// strings, byte arrays as base64. What jsonpb refuses is refused here, in Go's words.
//
// Pure function: no I/O, safe from any thread. Used by json_codec's JsonToMessage.
#pragma once

#include <string>

#include <google/protobuf/descriptor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::gateway {

// `value` is one whole JSON value (the first of a body). An object is rewritten for `type`; any
// other value is refused as Go refuses it (its syntax first, then "json: cannot unmarshal ... into
// Go value of type map[string]json.RawMessage"). InvalidArgument for malformed JSON and for what
// jsonpb refuses; what is left for protobuf's parser to refuse (bad base64 it cannot tell, a
// quoted integer that is not a number) passes.
absl::StatusOr<std::string> RewriteAsJsonpbReads(absl::string_view value, const google::protobuf::Descriptor* type);

}  // namespace cairn::gateway
