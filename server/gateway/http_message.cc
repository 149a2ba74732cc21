#include "server/gateway/http_message.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/gateway/json_codec.h"

namespace cairn::gateway {

size_t FindHeadEnd(absl::string_view buffer) {
  size_t at = buffer.find("\r\n\r\n");
  return at == absl::string_view::npos ? absl::string_view::npos : at + 4;
}

absl::StatusOr<HttpRequestHead> ParseRequestHead(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  if (lines.empty()) return absl::InvalidArgumentError("empty request");
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[1][0] != '/') {
    return absl::InvalidArgumentError("malformed request line");
  }
  HttpRequestHead out;
  out.method = std::string(parts[0]);
  out.target = std::string(parts[1]);
  out.path = out.target.substr(0, out.target.find('?'));
  if (parts[2] == "HTTP/1.1") {
    out.minor_version = 1;
  } else if (parts[2] == "HTTP/1.0") {
    out.minor_version = 0;
    out.keep_alive = false;
  } else {
    return absl::InvalidArgumentError("unsupported HTTP version");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0) return absl::InvalidArgumentError("malformed header");
    const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "content-length") {
      uint64_t length = 0;
      if (!absl::SimpleAtoi(value, &length) || (out.content_length && *out.content_length != length)) {
        return absl::InvalidArgumentError("bad Content-Length");
      }
      out.content_length = length;
    } else if (name == "transfer-encoding") {
      if (!absl::EqualsIgnoreCase(value, "chunked")) {
        return absl::InvalidArgumentError("unsupported Transfer-Encoding");
      }
      out.chunked = true;
    } else if (name == "expect") {
      out.expect_continue = absl::EqualsIgnoreCase(value, "100-continue");
    } else if (name == "connection") {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) out.keep_alive = false;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) out.keep_alive = true;
      }
    } else if (name == "authorization") {
      out.authorization = std::string(value);
    }
  }
  // Both framings at once is how request smuggling starts; refuse it as Go's server does.
  if (out.chunked && out.content_length) return absl::InvalidArgumentError("both Content-Length and chunked");
  return out;
}

ChunkedDecoder::Progress ChunkedDecoder::Feed(std::string* input, std::string* body) {
  size_t pos = 0;
  auto line_end = [&]() { return input->find("\r\n", pos); };
  Progress result = Progress::kNeedMore;
  while (result == Progress::kNeedMore) {
    if (state_ == State::kSize) {
      size_t end = line_end();
      if (end == std::string::npos) break;
      absl::string_view size_text = absl::string_view(*input).substr(pos, end - pos);
      size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions are ignored
      size_text = absl::StripAsciiWhitespace(size_text);
      uint64_t size = 0;
      if (size_text.empty() || size_text.size() > 15 || !absl::SimpleHexAtoi(size_text, &size)) {
        return Progress::kMalformed;
      }
      pos = end + 2;
      remaining_ = size;
      state_ = size == 0 ? State::kTrailer : State::kData;
    } else if (state_ == State::kData) {
      if (pos == input->size()) break;
      size_t take = std::min<uint64_t>(remaining_, input->size() - pos);
      body->append(*input, pos, take);
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataEnd;
    } else if (state_ == State::kDataEnd) {
      if (input->size() - pos < 2) break;
      if (input->compare(pos, 2, "\r\n") != 0) return Progress::kMalformed;
      pos += 2;
      state_ = State::kSize;
    } else if (state_ == State::kTrailer) {
      size_t end = line_end();
      if (end == std::string::npos) break;
      const bool blank = end == pos;
      pos = end + 2;
      if (blank) {
        state_ = State::kDone;
        result = Progress::kDone;
      }
    } else {
      result = Progress::kDone;
    }
  }
  input->erase(0, pos);
  return result;
}

std::string ResponseHead(int status, absl::string_view content_type, std::optional<size_t> content_length,
                         bool keep_alive, absl::string_view extra_headers) {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", HttpStatusText(status), "\r\n", extra_headers);
  if (!content_type.empty()) absl::StrAppend(&out, "Content-Type: ", content_type, "\r\n");
  if (content_length) {
    absl::StrAppend(&out, "Content-Length: ", *content_length, "\r\n");
  } else {
    absl::StrAppend(&out, "Transfer-Encoding: chunked\r\n");
  }
  if (!keep_alive) absl::StrAppend(&out, "Connection: close\r\n");
  absl::StrAppend(&out, "\r\n");
  return out;
}

std::string Response(int status, absl::string_view content_type, absl::string_view body, bool keep_alive,
                     absl::string_view extra_headers) {
  return absl::StrCat(ResponseHead(status, content_type, body.size(), keep_alive, extra_headers), body);
}

std::string Chunk(absl::string_view data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

}  // namespace cairn::gateway
