#include "raft/wal/segment.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "raft/wal/crc32c.h"

namespace cairn::wal {
namespace {

void PutLE(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Offset of the first byte at or after `from` that is not zero, or data.size(). Zero-filled
// segments end in megabytes of zeros, so this steps a word at a time.
size_t NextNonZero(absl::string_view data, size_t from) {
  while (from < data.size() && from % sizeof(uint64_t) != 0 && data[from] == 0) ++from;
  while (from + sizeof(uint64_t) <= data.size()) {
    uint64_t word;
    std::memcpy(&word, data.data() + from, sizeof word);
    if (word != 0) break;
    from += sizeof word;
  }
  while (from < data.size() && data[from] == 0) ++from;
  return from;
}

// True if some offset after `bad_offset` holds a frame that decodes cleanly: then the damage at
// bad_offset is not a torn tail but lost data in the middle of the log.
bool AnyGoodFrameAfter(absl::string_view data, size_t bad_offset) {
  size_t pos = bad_offset + 1;
  while (pos + kFrameHeaderBytes + kBodyHeaderBytes <= data.size()) {
    // A frame starts with a non-zero length, so it starts at most 3 bytes before a non-zero byte.
    const size_t nz = NextNonZero(data, pos);
    if (nz >= data.size()) return false;
    if (nz > pos + 3) pos = nz - 3;
    size_t frame_bytes = 0;
    if (DecodeFramedRecord(data.substr(pos), nullptr, &frame_bytes) == DecodeResult::kOk) return true;
    ++pos;
  }
  return false;
}

// One past the last non-zero byte at or after `from`, or `from` if there is none.
size_t LastNonZeroEnd(absl::string_view data, size_t from) {
  size_t end = data.size();
  while (end > from && end % sizeof(uint64_t) != 0 && data[end - 1] == 0) --end;
  while (end >= from + sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, data.data() + end - sizeof word, sizeof word);
    if (word != 0) break;
    end -= sizeof word;
  }
  while (end > from && data[end - 1] == 0) --end;
  return end;
}

}  // namespace

std::string SegmentFileName(const SegmentId& id) {
  return absl::StrFormat("%016x-%016x.wal", id.seq, id.first_index);
}

std::optional<SegmentId> ParseSegmentFileName(absl::string_view name) {
  // 16 hex, '-', 16 hex, ".wal"
  if (name.size() != 16 + 1 + 16 + 4 || name[16] != '-' || name.substr(33) != ".wal") return std::nullopt;
  for (size_t i = 0; i < 33; ++i) {
    if (i != 16 && !IsHexDigit(name[i])) return std::nullopt;
  }
  SegmentId id;
  id.seq = std::strtoull(std::string(name.substr(0, 16)).c_str(), nullptr, 16);
  id.first_index = std::strtoull(std::string(name.substr(17, 16)).c_str(), nullptr, 16);
  return id;
}

std::string EncodeSegmentHeader(const SegmentId& id) {
  std::string h(kSegmentMagic, sizeof kSegmentMagic);
  PutLE(&h, kFormatVersion, 4);
  PutLE(&h, 0, 4);  // reserved flags
  PutLE(&h, id.seq, 8);
  PutLE(&h, id.first_index, 8);
  PutLE(&h, Crc32c(h.data(), h.size()), 4);
  return h;
}

absl::Status CheckSegmentHeader(absl::string_view contents, const SegmentId& id, const std::string& path) {
  if (contents.size() < sizeof kSegmentMagic ||
      std::memcmp(contents.data(), kSegmentMagic, sizeof kSegmentMagic) != 0) {
    return absl::DataLossError(
        absl::StrCat("wal: ", path, " is not a Cairn WAL segment (bad magic at offset 0)"));
  }
  if (contents.size() < kSegmentHeaderBytes) {
    return absl::DataLossError(absl::StrCat("wal: segment header in ", path, " is truncated (",
                                            contents.size(), " of ", kSegmentHeaderBytes, " bytes)"));
  }
  const uint32_t version = static_cast<uint32_t>(GetLE(contents.data() + 8, 4));
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wal: ", path, " was written in WAL format version ", version, ", but this binary reads only version ",
        kFormatVersion, "; use a matching cairnd release (or migrate the data dir)"));
  }
  const uint32_t stored_crc = static_cast<uint32_t>(GetLE(contents.data() + 32, 4));
  if (Crc32c(contents.data(), 32) != stored_crc) {
    return absl::DataLossError(absl::StrCat("wal: corrupt segment header in ", path, " at offset 0: checksum mismatch"));
  }
  const uint64_t seq = GetLE(contents.data() + 16, 8);
  const uint64_t first_index = GetLE(contents.data() + 24, 8);
  if (seq != id.seq || first_index != id.first_index) {
    return absl::DataLossError(absl::StrFormat(
        "wal: segment header in %s says seq %d first index %d, which does not match its file name", path, seq,
        first_index));
  }
  return absl::OkStatus();
}

absl::Status ScanSegment(absl::string_view contents, const std::string& path, bool is_last, ScannedSegment* out) {
  *out = ScannedSegment{};
  size_t pos = kSegmentHeaderBytes;
  out->valid_end = pos;
  while (pos < contents.size()) {
    Record record;
    size_t frame_bytes = 0;
    const DecodeResult result = DecodeFramedRecord(contents.substr(pos), &record, &frame_bytes);
    if (result == DecodeResult::kOk) {
      if (record.type == RecordType::kEntry || record.type == RecordType::kSnapshot) {
        out->max_entry_index = std::max(out->max_entry_index, record.index);
      }
      out->records.push_back(std::move(record));
      pos += frame_bytes;
      out->valid_end = pos;
      continue;
    }
    if (result == DecodeResult::kEndOfData && NextNonZero(contents, pos) == contents.size()) break;
    if (result == DecodeResult::kBadType) {
      // Checksum was right, so this is not damage: refuse rather than guess.
      return absl::FailedPreconditionError(absl::StrFormat(
          "wal: record in %s at offset %d has unknown type %d (written by a newer version?)", path, pos,
          static_cast<uint8_t>(contents[pos + kFrameHeaderBytes])));
    }
    const bool later_data = AnyGoodFrameAfter(contents, pos);
    if (!later_data && is_last) {
      out->dropped_bytes = LastNonZeroEnd(contents, pos) - pos;
      return absl::OkStatus();
    }
    return absl::DataLossError(absl::StrFormat(
        "wal: corrupt record in %s at offset %d: %s%s", path, pos, DecodeResultName(result),
        later_data ? " (valid records follow it, so this is not a torn write)"
                   : " (not the last segment, so this is not a torn write)"));
  }
  return absl::OkStatus();
}

}  // namespace cairn::wal
