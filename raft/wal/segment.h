// Segment files: naming, the per-file header, and validating one segment's contents.
//
// A segment is `<seq:16 hex>-<first_index:16 hex>.wal`: `seq` counts segments from 0 with no gaps
// (except a prefix released by Wal::ReleaseBefore); `first_index` is one past the highest entry
// index written before the segment was opened (informational: Raft may rewrite lower indexes later).
// The file starts with a 36-byte header (see README.md), followed by framed records, followed by
// zero bytes or end of file.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "raft/wal/record.h"

namespace cairn::wal {

inline constexpr char kSegmentMagic[8] = {'C', 'A', 'I', 'R', 'N', 'W', 'A', 'L'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 36;

struct SegmentId {
  uint64_t seq = 0;
  uint64_t first_index = 0;
};

std::string SegmentFileName(const SegmentId& id);
// Accepts exactly the names SegmentFileName() produces.
std::optional<SegmentId> ParseSegmentFileName(absl::string_view name);

std::string EncodeSegmentHeader(const SegmentId& id);

// Checks the header at the start of `contents` against the id taken from the file name.
// FailedPreconditionError for another format version; DataLossError for anything else wrong.
absl::Status CheckSegmentHeader(absl::string_view contents, const SegmentId& id, const std::string& path);

struct ScannedSegment {
  std::vector<Record> records;
  size_t valid_end = 0;       // offset just past the last good record (at least the header size)
  size_t dropped_bytes = 0;   // torn-tail bytes after valid_end, up to the last non-zero byte
  uint64_t max_entry_index = 0;  // highest index among kEntry/kSnapshot records, 0 if none
};

// Decodes every record of a segment whose header already passed CheckSegmentHeader.
// A bad frame with no decodable frame anywhere after it is a torn tail: accepted if `is_last`
// (reported in dropped_bytes), DataLossError otherwise. A bad frame followed by a good one is
// always DataLossError "wal: corrupt record in <path> at offset N: <reason>".
absl::Status ScanSegment(absl::string_view contents, const std::string& path, bool is_last,
                         ScannedSegment* out);

}  // namespace cairn::wal
