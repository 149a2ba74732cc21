// cairn::watch::KeyRange — the keys one watcher covers, in etcd's watch conventions.
//
// A create request's (key, range_end) is normalised the way etcd's watch server does it: an empty key means
// "\0" (the smallest key); an empty range_end watches the single key; range_end "\0" watches every key >= key;
// otherwise the half-open range [key, range_end). Value type, no shared state.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace cairn::watch {

struct KeyRange {
  std::string key;        // never empty after FromRequest
  std::string range_end;  // "" single key, "\0" from key, else exclusive end

  static KeyRange FromRequest(const std::string& key, const std::string& range_end);

  bool IsSingleKey() const { return range_end.empty(); }
  bool IsFromKey() const { return range_end.size() == 1 && range_end[0] == '\0'; }
  // A range whose end is not after its start can never match (etcd refuses such watches).
  bool IsEmpty() const;
  bool Contains(absl::string_view k) const;

  bool operator==(const KeyRange& other) const { return key == other.key && range_end == other.range_end; }
};

}  // namespace cairn::watch
