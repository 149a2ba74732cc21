#include "server/auth/permissions.h"

#include <algorithm>

namespace cairn::auth {
namespace {

// The smallest key after `key`: the end of a range holding `key` alone.
std::string Successor(absl::string_view key) {
  std::string next(key);
  next.push_back('\0');
  return next;
}

bool IsFromKey(absl::string_view range_end) { return range_end.size() == 1 && range_end[0] == '\0'; }

}  // namespace

void KeyPermissions::AddTo(std::vector<Range>* ranges, const authpb::Permission& permission) {
  const std::string& key = permission.key();
  const std::string& range_end = permission.range_end();
  Range r;
  r.begin = key;
  if (range_end.empty()) {
    r.end = Successor(key);
  } else if (IsFromKey(range_end)) {
    r.unbounded = true;
  } else {
    if (range_end <= key) return;  // covers nothing
    r.end = range_end;
  }
  ranges->push_back(std::move(r));
}

void KeyPermissions::Add(const authpb::Permission& permission) {
  switch (permission.permtype()) {
    case authpb::Permission::READ:
      AddTo(&read_, permission);
      break;
    case authpb::Permission::WRITE:
      AddTo(&write_, permission);
      break;
    case authpb::Permission::READWRITE:
      AddTo(&read_, permission);
      AddTo(&write_, permission);
      break;
    default:
      break;  // a type this version does not know grants nothing
  }
}

void KeyPermissions::Merge(std::vector<Range>* ranges) {
  std::sort(ranges->begin(), ranges->end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::vector<Range> merged;
  for (Range& r : *ranges) {
    if (!merged.empty()) {
      Range& last = merged.back();
      // Touching or overlapping: one range, so a request spanning both is covered.
      if (last.unbounded || r.begin <= last.end) {
        if (!last.unbounded && (r.unbounded || r.end > last.end)) {
          last.unbounded = r.unbounded;
          last.end = r.unbounded ? std::string() : std::move(r.end);
        }
        continue;
      }
    }
    merged.push_back(std::move(r));
  }
  *ranges = std::move(merged);
}

void KeyPermissions::Seal() {
  Merge(&read_);
  Merge(&write_);
}

bool KeyPermissions::Covers(const std::vector<Range>& ranges, absl::string_view key, absl::string_view range_end) {
  // The last range starting at or before `key` is the only one that can hold it (they are disjoint).
  auto after = std::upper_bound(ranges.begin(), ranges.end(), key,
                                [](absl::string_view k, const Range& r) { return k < absl::string_view(r.begin); });
  if (after == ranges.begin()) return false;
  const Range& r = *(after - 1);
  if (!r.unbounded && key >= absl::string_view(r.end)) return false;
  if (range_end.empty() || r.unbounded) return true;
  if (IsFromKey(range_end)) return false;           // asks for every key from `key` on
  if (range_end <= key) return true;                // an empty range: its key is held
  return range_end <= absl::string_view(r.end);
}

bool KeyPermissions::CanRead(absl::string_view key, absl::string_view range_end) const {
  return Covers(read_, key, range_end);
}

bool KeyPermissions::CanWrite(absl::string_view key, absl::string_view range_end) const {
  return Covers(write_, key, range_end);
}

}  // namespace cairn::auth
