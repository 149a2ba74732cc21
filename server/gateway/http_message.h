// HTTP/1.1 framing for the client port's plaintext HTTP: the request head, chunked request
// bodies, and response heads. Only what curl, load balancers, probes and HTTP client libraries
// send; no pipelined bodies beyond the one being read.
//
// Pure functions and a small value-type decoder: no I/O, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::gateway {

struct HttpRequestHead {
  std::string method;   // "POST"
  std::string target;   // "/v3/kv/range?x" as sent
  std::string path;     // target without the query string
  int minor_version = 1;  // HTTP/1.<minor>
  std::optional<uint64_t> content_length;
  bool chunked = false;          // Transfer-Encoding: chunked
  bool expect_continue = false;  // Expect: 100-continue
  bool keep_alive = true;        // HTTP/1.1 default, unless "Connection: close"; 1.0 needs keep-alive
  // The Authorization header, as sent; present but empty is not absent (etcd then refuses the
  // empty token, where no header at all is no token).
  std::optional<std::string> authorization;
};

// Offset just past the blank line that ends the head, or npos while it is incomplete.
size_t FindHeadEnd(absl::string_view buffer);

// Parses the head (request line and header lines, up to and including the blank line).
// InvalidArgument for anything malformed (answered 400 and the connection closed).
absl::StatusOr<HttpRequestHead> ParseRequestHead(absl::string_view head);

// Decodes a chunked body as it arrives. Feed() consumes what it can from the front of `input`
// and appends the payload to `body`.
class ChunkedDecoder {
 public:
  enum class Progress { kNeedMore, kDone, kMalformed };
  Progress Feed(std::string* input, std::string* body);

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
};

// "HTTP/1.1 <status> <text>\r\n" and the headers. A body length of nullopt means chunked.
// `extra_headers`: complete header lines ("Name: value\r\n"), sent as they are.
std::string ResponseHead(int status, absl::string_view content_type, std::optional<size_t> content_length,
                         bool keep_alive, absl::string_view extra_headers = "");
// A complete response with a body of known length.
std::string Response(int status, absl::string_view content_type, absl::string_view body, bool keep_alive,
                     absl::string_view extra_headers = "");
// One chunk of a chunked body; an empty `data` is the last chunk.
std::string Chunk(absl::string_view data);

}  // namespace cairn::gateway
