#include "raft/storage.h"

namespace cairn::raft {
namespace {
// The codes are what the predicates match on; the texts are for humans reading logs.
constexpr absl::StatusCode kCompactedCode = absl::StatusCode::kOutOfRange;
constexpr absl::StatusCode kUnavailableCode = absl::StatusCode::kNotFound;
constexpr absl::StatusCode kSnapshotBusyCode = absl::StatusCode::kUnavailable;
}  // namespace

absl::Status CompactedError() {
  return absl::Status(kCompactedCode, "raft: requested index is unavailable due to compaction");
}
absl::Status UnavailableError() {
  return absl::Status(kUnavailableCode, "raft: requested entry at index is unavailable");
}
absl::Status SnapshotTemporarilyUnavailableError() {
  return absl::Status(kSnapshotBusyCode, "raft: snapshot is temporarily unavailable");
}
bool IsCompactedError(const absl::Status& s) { return s.code() == kCompactedCode; }
bool IsUnavailableError(const absl::Status& s) { return s.code() == kUnavailableCode; }
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s) {
  return s.code() == kSnapshotBusyCode;
}

}  // namespace cairn::raft
