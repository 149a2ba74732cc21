#include "raft/wal/record.h"

#include <cstring>

#include "raft/wal/crc32c.h"

namespace cairn::wal {
namespace {

void PutU32(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out->append(buf, 4);
}

void PutU64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out->append(buf, 8);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

bool IsKnownRecordType(uint8_t type) { return type >= 1 && type <= 4; }

void AppendFramedRecord(const Record& record, std::string* out) {
  const size_t body_len = kBodyHeaderBytes + record.payload.size();
  const size_t frame_start = out->size();
  PutU32(out, static_cast<uint32_t>(body_len));
  PutU32(out, 0);  // checksum, filled in once the body is in place
  const size_t body_start = out->size();
  out->push_back(static_cast<char>(record.type));
  PutU64(out, record.term);
  PutU64(out, record.index);
  out->append(record.payload);
  const uint32_t crc = Crc32c(out->data() + body_start, body_len);
  for (int i = 0; i < 4; ++i) (*out)[frame_start + 4 + i] = static_cast<char>(crc >> (8 * i));
}

const char* DecodeResultName(DecodeResult result) {
  switch (result) {
    case DecodeResult::kOk: return "ok";
    case DecodeResult::kEndOfData: return "end of data";
    case DecodeResult::kTruncated: return "record runs past end of file";
    case DecodeResult::kBadLength: return "impossible record length";
    case DecodeResult::kBadType: return "unknown record type";
    case DecodeResult::kBadChecksum: return "checksum mismatch";
  }
  return "?";
}

DecodeResult DecodeFramedRecord(absl::string_view data, Record* record, size_t* frame_bytes) {
  if (data.size() < 4) {
    // Fewer bytes than a length field: zeros are unused space, anything else a torn frame.
    for (char c : data) {
      if (c != 0) return DecodeResult::kTruncated;
    }
    return DecodeResult::kEndOfData;
  }
  const uint32_t body_len = GetU32(data.data());
  if (body_len == 0) return DecodeResult::kEndOfData;
  if (body_len < kBodyHeaderBytes || body_len > kBodyHeaderBytes + kMaxPayloadBytes) {
    return DecodeResult::kBadLength;
  }
  if (data.size() < kFrameHeaderBytes + body_len) return DecodeResult::kTruncated;
  const uint32_t stored_crc = GetU32(data.data() + 4);
  const char* body = data.data() + kFrameHeaderBytes;
  if (Crc32c(body, body_len) != stored_crc) return DecodeResult::kBadChecksum;
  const uint8_t type = static_cast<uint8_t>(body[0]);
  if (!IsKnownRecordType(type)) return DecodeResult::kBadType;
  if (record != nullptr) {
    record->type = static_cast<RecordType>(type);
    record->term = GetU64(body + 1);
    record->index = GetU64(body + 9);
    record->payload.assign(body + kBodyHeaderBytes, body_len - kBodyHeaderBytes);
  }
  *frame_bytes = kFrameHeaderBytes + body_len;
  return DecodeResult::kOk;
}

}  // namespace cairn::wal
