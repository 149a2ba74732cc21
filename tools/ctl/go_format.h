// Text conversions that reproduce what etcdctl (a Go program) prints, so cairnctl's output is
// byte-for-byte the same: Go's %q quoting, base64, humanize.Bytes, time.Duration.String,
// strconv.Unquote, and etcdctl's line splitting for txn/watch input ("argify").
// All functions are pure and thread-safe.
#ifndef CAIRN_TOOLS_CTL_GO_FORMAT_H_
#define CAIRN_TOOLS_CTL_GO_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::ctl {

// fmt's %q / strconv.Quote: double-quoted, Go escapes, valid printable UTF-8 kept as is.
std::string GoQuote(const std::string& bytes);
// strconv.Unquote for "..." and `...` strings.
absl::StatusOr<std::string> GoUnquote(const std::string& quoted);
// Standard base64 with padding (encoding/json's []byte form).
std::string Base64(const std::string& bytes);
// humanize.Bytes: SI units, e.g. 20480 -> "20 kB".
std::string HumanizeBytes(uint64_t bytes);
// time.Duration.String: e.g. 1522593ns -> "1.522593ms".
std::string GoDurationString(int64_t nanos);
// "%x" of a byte string with "\x" before each byte pair, as etcdctl --hex prints.
std::string HexEscaped(const std::string& bytes);
// Splits a txn/watch input line the way etcdctl does: words, "double quoted" (with Go
// escapes) and 'single quoted' strings.
absl::StatusOr<std::vector<std::string>> Argify(const std::string& line);
// "%016x" and "%x".
std::string Hex16(uint64_t v);
std::string HexPlain(uint64_t v);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_GO_FORMAT_H_
