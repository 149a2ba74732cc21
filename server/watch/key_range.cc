#include "server/watch/key_range.h"

namespace cairn::watch {

KeyRange KeyRange::FromRequest(const std::string& key, const std::string& range_end) {
  KeyRange range;
  range.key = key.empty() ? std::string(1, '\0') : key;
  range.range_end = range_end;
  return range;
}

bool KeyRange::IsEmpty() const {
  if (IsSingleKey() || IsFromKey()) return false;
  return absl::string_view(key) >= absl::string_view(range_end);
}

bool KeyRange::Contains(absl::string_view k) const {
  if (IsSingleKey()) return k == key;
  if (k < absl::string_view(key)) return false;
  if (IsFromKey()) return true;
  return k < absl::string_view(range_end);
}

}  // namespace cairn::watch
