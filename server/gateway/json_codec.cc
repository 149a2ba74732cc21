#include "server/gateway/json_codec.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/gateway/jsonpb_reader.h"

namespace cairn::gateway {

std::string MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  // Only fails for messages that cannot be represented (Any without its type); ours all can.
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

int HttpStatusForGrpcCode(int grpc_code) {
  switch (grpc_code) {
    case 0: return 200;    // OK
    case 1: return 408;    // CANCELLED
    case 2: return 500;    // UNKNOWN
    case 3: return 400;    // INVALID_ARGUMENT
    case 4: return 504;    // DEADLINE_EXCEEDED
    case 5: return 404;    // NOT_FOUND
    case 6: return 409;    // ALREADY_EXISTS
    case 7: return 403;    // PERMISSION_DENIED
    case 8: return 429;    // RESOURCE_EXHAUSTED
    case 9: return 412;    // FAILED_PRECONDITION
    case 10: return 409;   // ABORTED
    case 11: return 400;   // OUT_OF_RANGE
    case 12: return 501;   // UNIMPLEMENTED
    case 13: return 500;   // INTERNAL
    case 14: return 503;   // UNAVAILABLE
    case 15: return 500;   // DATA_LOSS
    case 16: return 401;   // UNAUTHENTICATED
    default: return 500;
  }
}

const char* HttpStatusText(int http_status) {
  switch (http_status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string ErrorJson(int grpc_code, absl::string_view message) {
  const std::string quoted = JsonQuote(message);
  return absl::StrCat("{\"error\":", quoted, ",\"message\":", quoted, ",\"code\":", grpc_code, "}");
}

std::string StreamResultJson(const google::protobuf::Message& message) {
  return absl::StrCat("{\"result\":", MessageToJson(message), "}");
}

std::string StreamErrorJson(int grpc_code, absl::string_view message) {
  const int http = HttpStatusForGrpcCode(grpc_code);
  return absl::StrCat("{\"error\":{\"grpc_code\":", grpc_code, ",\"http_code\":", http,
                      ",\"message\":", JsonQuote(message), ",\"http_status\":", JsonQuote(HttpStatusText(http)),
                      "}}");
}

namespace {

// The JSON value starting at `start` (not whitespace): where it ends, and whether it is complete
// (a bare scalar is complete at the next separator or the end).
size_t ScanValue(absl::string_view body, size_t start, bool* complete) {
  const size_t n = body.size();
  size_t i = start;
  *complete = true;
  if (body[i] != '{' && body[i] != '[') {
    while (i < n && !absl::ascii_isspace(static_cast<unsigned char>(body[i])) && body[i] != '{' && body[i] != '[') {
      ++i;
    }
    return i;
  }
  int depth = 0;
  bool in_string = false;
  for (; i < n; ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  *complete = false;
  return n;
}

size_t SkipSpace(absl::string_view body, size_t i) {
  while (i < body.size() && absl::ascii_isspace(static_cast<unsigned char>(body[i]))) ++i;
  return i;
}

}  // namespace

std::vector<absl::string_view> SplitJsonValues(absl::string_view body) {
  std::vector<absl::string_view> values;
  for (size_t i = SkipSpace(body, 0); i < body.size(); i = SkipSpace(body, i)) {
    bool complete;
    const size_t end = ScanValue(body, i, &complete);
    values.push_back(body.substr(i, end - i));
    i = end;
  }
  return values;
}

size_t TakeCompleteJsonObjects(absl::string_view body, std::vector<absl::string_view>* out) {
  size_t consumed = 0;
  for (size_t i = SkipSpace(body, 0); i < body.size(); i = SkipSpace(body, i)) {
    bool complete;
    const size_t end = ScanValue(body, i, &complete);
    // A bare scalar may still grow ("12" of "123"); only an object or array ends for sure.
    if (!complete || (body[i] != '{' && body[i] != '[')) break;
    out->push_back(body.substr(i, end - i));
    consumed = end;
    i = end;
  }
  return consumed;
}

absl::Status JsonToMessage(absl::string_view json, google::protobuf::Message* out) {
  // jsonpb decodes the first JSON value of the body and ignores what follows it.
  std::vector<absl::string_view> values = SplitJsonValues(json);
  if (values.empty() || values[0] == "null") return absl::OkStatus();  // an empty request
  auto rewritten = RewriteAsJsonpbReads(values[0], out->GetDescriptor());
  if (!rewritten.ok()) return rewritten.status();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // none left but in maps; kept for them
  auto status = google::protobuf::util::JsonStringToMessage(*rewritten, out, options);
  if (!status.ok()) return absl::InvalidArgumentError(std::string(status.message()));
  return absl::OkStatus();
}

}  // namespace cairn::gateway
