// Command-line flag parsing with pflag/cobra semantics, so that every argument list that
// etcdctl accepts parses the same way here.
//
// Accepted forms: --name=value, --name value, -s value, -svalue, --bool, --bool=false, and
// "--" ends flag parsing. Flags and positional arguments may be interleaved. A string-slice
// flag's first explicit use replaces its default; later uses append (pflag's rule).
// Not thread-safe; a FlagSet is built, parsed once, then read.
#ifndef CAIRN_TOOLS_CTL_FLAGS_H_
#define CAIRN_TOOLS_CTL_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::ctl {

enum class FlagKind { kBool, kString, kInt64, kDuration, kStringSlice, kStringArray };

struct FlagSpec {
  std::string name;
  std::string shorthand;  // one letter or empty
  FlagKind kind;
  std::string default_value;  // as it would be written on the command line
};

class FlagSet {
 public:
  void Add(const FlagSpec& spec);
  bool Has(const std::string& name) const;
  const FlagSpec* FindLong(const std::string& name) const;
  const FlagSpec* FindShort(const std::string& shorthand) const;

  // Stores an explicit value; errors use pflag's wording ("invalid argument ...").
  absl::Status Set(const std::string& name, const std::string& value);
  // Applies a value from the environment only when the flag was not given explicitly.
  absl::Status SetFromEnv(const std::string& name, const std::string& value);

  bool Changed(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  std::string GetString(const std::string& name) const;
  int64_t GetInt64(const std::string& name) const;
  int64_t GetDurationNanos(const std::string& name) const;
  std::vector<std::string> GetSlice(const std::string& name) const;

 private:
  std::map<std::string, FlagSpec> specs_;
  std::map<std::string, std::vector<std::string>> values_;  // raw values per flag
  std::map<std::string, bool> changed_;
};

// Parses `args` against `flags`, filling in flags and returning positional arguments.
// `stop_at_first_positional` is unused by etcdctl commands but kept false by default.
// Errors read like pflag's: "unknown flag: --x", "unknown shorthand flag: 'x' in -x",
// "flag needs an argument: --x".
absl::StatusOr<std::vector<std::string>> ParseFlags(const std::vector<std::string>& args,
                                                    FlagSet& flags);

// Parses a Go duration ("5s", "1m30s", "250ms", "2h"). Returns nanoseconds.
absl::StatusOr<int64_t> ParseGoDuration(const std::string& text);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_FLAGS_H_
