#include "mvcc/codec.h"

#include <openssl/sha.h>

#include <array>

namespace cairn::mvcc {
namespace {

constexpr uint8_t kFlagTombstone = 1;
constexpr uint8_t kFlagFullKey = 2;
constexpr uint8_t kFlagModSub = 4;
constexpr uint8_t kFlagPrev = 8;

void AppendVarint(uint64_t v, std::string* out) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

bool ReadVarint(absl::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

}  // namespace

void EncodeStoredKey(absl::string_view user_key, std::string* out) {
  if (user_key.size() <= kKeyPrefixBytes) {
    out->assign(user_key.data(), user_key.size());
    return;
  }
  out->assign(user_key.data(), kKeyPrefixBytes);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(user_key.data()), user_key.size(), digest);
  out->append(reinterpret_cast<const char*>(digest), kKeyHashBytes);
}

void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void EncodeRevision(Revision rev, char* out) {
  PutBigEndian64(static_cast<uint64_t>(rev.main), out);
  PutBigEndian64(static_cast<uint64_t>(rev.sub), out + 8);
}

void AppendRevision(Revision rev, std::string* out) {
  char buf[kRevisionBytes];
  EncodeRevision(rev, buf);
  out->append(buf, kRevisionBytes);
}

Revision DecodeRevision(const char* in) {
  return Revision{static_cast<int64_t>(GetBigEndian64(in)), static_cast<int64_t>(GetBigEndian64(in + 8))};
}

void EncodeRecord(const Record& record, std::string* out) {
  uint8_t flags = 0;
  if (record.tombstone) flags |= kFlagTombstone;
  if (!record.full_key.empty()) flags |= kFlagFullKey;
  if (record.mod_sub != 0) flags |= kFlagModSub;
  if (record.has_prev) flags |= kFlagPrev;
  out->push_back(static_cast<char>(flags));
  AppendVarint(static_cast<uint64_t>(record.create_revision), out);
  AppendVarint(static_cast<uint64_t>(record.mod_revision), out);
  if (record.mod_sub != 0) AppendVarint(static_cast<uint64_t>(record.mod_sub), out);
  AppendVarint(static_cast<uint64_t>(record.version), out);
  AppendVarint(static_cast<uint64_t>(record.lease), out);
  if (record.has_prev) {
    AppendVarint(static_cast<uint64_t>(record.prev.main), out);
    AppendVarint(static_cast<uint64_t>(record.prev.sub), out);
  }
  if (!record.full_key.empty()) {
    AppendVarint(record.full_key.size(), out);
    out->append(record.full_key.data(), record.full_key.size());
  }
  out->append(record.value.data(), record.value.size());
}

bool DecodeRecord(absl::string_view data, Record* record) {
  if (data.empty()) return false;
  const uint8_t flags = static_cast<uint8_t>(data[0]);
  data.remove_prefix(1);
  uint64_t create, mod, sub = 0, version, lease;
  if (!ReadVarint(&data, &create) || !ReadVarint(&data, &mod) ||
      ((flags & kFlagModSub) && !ReadVarint(&data, &sub)) || !ReadVarint(&data, &version) ||
      !ReadVarint(&data, &lease)) {
    return false;
  }
  record->mod_sub = static_cast<int64_t>(sub);
  record->tombstone = flags & kFlagTombstone;
  record->create_revision = static_cast<int64_t>(create);
  record->mod_revision = static_cast<int64_t>(mod);
  record->version = static_cast<int64_t>(version);
  record->lease = static_cast<int64_t>(lease);
  record->has_prev = flags & kFlagPrev;
  record->prev = Revision();
  if (record->has_prev) {
    uint64_t prev_main, prev_sub;
    if (!ReadVarint(&data, &prev_main) || !ReadVarint(&data, &prev_sub)) return false;
    record->prev = Revision{static_cast<int64_t>(prev_main), static_cast<int64_t>(prev_sub)};
  }
  record->full_key = absl::string_view();
  if (flags & kFlagFullKey) {
    uint64_t key_size;
    if (!ReadVarint(&data, &key_size) || key_size > data.size()) return false;
    record->full_key = data.substr(0, key_size);
    data.remove_prefix(key_size);
  }
  record->value = data;
  return true;
}

absl::string_view RecordForHash(absl::string_view data, std::string* scratch) {
  if (data.empty() || !(static_cast<uint8_t>(data[0]) & (kFlagModSub | kFlagPrev))) return data;
  Record record;
  if (!DecodeRecord(data, &record)) return data;
  record.mod_sub = 0;
  record.has_prev = false;
  scratch->clear();
  EncodeRecord(record, scratch);
  return *scratch;
}

void EncodeVersionEntry(absl::string_view stored, absl::string_view record, std::string* out) {
  out->clear();
  AppendVarint(stored.size(), out);
  out->append(stored.data(), stored.size());
  out->append(record.data(), record.size());
}

bool DecodeVersionEntry(absl::string_view data, absl::string_view* stored, absl::string_view* record) {
  uint64_t size;
  if (!ReadVarint(&data, &size) || size > data.size()) return false;
  *stored = data.substr(0, size);
  *record = data.substr(size);
  return true;
}

uint32_t Crc32c(uint32_t crc, absl::string_view data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  crc = ~crc;
  for (char ch : data) crc = table[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace cairn::mvcc
