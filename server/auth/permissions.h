// cairn::auth::KeyPermissions — the key ranges one user may read and write, merged from the
// permissions of all its roles, and the checks the services ask of them.
//
// Ranges follow etcd's conventions: a permission with an empty range_end covers its key alone; a
// range_end of "\0" covers every key from `key` on; otherwise [key, range_end). A request is
// allowed when the union of the user's ranges covers all of it (a point request: its key).
// Immutable once built; safe to share between threads.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "authpb/auth.pb.h"

namespace cairn::auth {

class KeyPermissions {
 public:
  // Adds one role permission (READ, WRITE or READWRITE). Call Seal() after the last one.
  void Add(const authpb::Permission& permission);
  // Sorts and merges the ranges; the checks below need it.
  void Seal();

  // `range_end` as in a RangeRequest: "" for the key alone, "\0" for every key from `key` on.
  bool CanRead(absl::string_view key, absl::string_view range_end) const;
  bool CanWrite(absl::string_view key, absl::string_view range_end) const;

 private:
  struct Range {
    std::string begin;
    std::string end;         // exclusive; unused when unbounded
    bool unbounded = false;  // no end: every key from `begin` on
  };
  static void AddTo(std::vector<Range>* ranges, const authpb::Permission& permission);
  static void Merge(std::vector<Range>* ranges);
  static bool Covers(const std::vector<Range>& ranges, absl::string_view key, absl::string_view range_end);

  std::vector<Range> read_;
  std::vector<Range> write_;
};

}  // namespace cairn::auth
