// One WAL record and its on-disk frame. See raft/wal/README.md for the byte layout.
//
// Frame: [u32 body_len][u32 crc32c(body)][body], body = [u8 type][u64 term][u64 index][payload],
// all integers little-endian. A body_len of 0 never starts a real record: it marks the zero-filled
// (preallocated or never written) space after the last record of a segment.
//
// Thread safety: pure functions on caller-owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace cairn::wal {

enum class RecordType : uint8_t {
  kEntry = 1,      // a Raft log entry; `index`/`term` are the entry's.
  kHardState = 2,  // Raft hard state (term, vote, commit) in the payload; latest one wins.
  kSnapshot = 3,   // marks a snapshot at (term, index); the snapshot data itself lives elsewhere.
  kMetadata = 4,   // node/cluster identity; latest one wins.
};

bool IsKnownRecordType(uint8_t type);

struct Record {
  RecordType type = RecordType::kEntry;
  uint64_t term = 0;
  uint64_t index = 0;
  std::string payload;

  friend bool operator==(const Record&, const Record&) = default;
};

inline constexpr size_t kFrameHeaderBytes = 8;                    // body_len + crc
inline constexpr size_t kBodyHeaderBytes = 1 + 8 + 8;            // type + term + index
inline constexpr size_t kMaxPayloadBytes = size_t{256} << 20;    // larger frames are corruption

// Bytes the record occupies on disk.
inline size_t FramedSize(const Record& r) { return kFrameHeaderBytes + kBodyHeaderBytes + r.payload.size(); }

// Appends the framed record to *out. The payload must be at most kMaxPayloadBytes (checked by Wal).
void AppendFramedRecord(const Record& record, std::string* out);

enum class DecodeResult {
  kOk,          // *record and *frame_bytes are set.
  kEndOfData,   // body_len == 0: zero-filled space, no record here.
  kTruncated,   // the frame runs past the end of the buffer.
  kBadLength,   // body_len is impossible (shorter than a body header or longer than the maximum).
  kBadType,     // checksum matches but the type is unknown (written by a newer version?).
  kBadChecksum, // crc32c(body) differs from the stored checksum.
};

const char* DecodeResultName(DecodeResult result);

// Decodes the frame that starts at data[0]. `record` may be null to only validate.
DecodeResult DecodeFramedRecord(absl::string_view data, Record* record, size_t* frame_bytes);

}  // namespace cairn::wal
