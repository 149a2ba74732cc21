// On-disk encodings of the store (see mvcc/README.md for the full format). Pure functions, no LMDB.
//
// Stored key ("S"): LMDB keys are limited to 511 bytes, etcd keys are not. A user key of at most
// kKeyPrefixBytes is stored as itself; a longer key is stored as its first kKeyPrefixBytes bytes
// followed by the 32-byte SHA-256 of the whole key, and the record then carries the full key. The
// length tells the two forms apart. Byte order of stored keys equals byte order of user keys except
// among long keys sharing their first kKeyPrefixBytes bytes (those are ordered by hash).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace cairn::mvcc {

inline constexpr size_t kKeyPrefixBytes = 400;
inline constexpr size_t kKeyHashBytes = 32;
inline constexpr size_t kRevisionBytes = 16;  // main and sub, 8 bytes big-endian each

struct Revision {
  int64_t main = 0;
  int64_t sub = 0;
};

inline bool operator<(const Revision& a, const Revision& b) {
  return a.main != b.main ? a.main < b.main : a.sub < b.sub;
}

// Replaces *out with the stored form of `user_key`.
void EncodeStoredKey(absl::string_view user_key, std::string* out);
inline bool IsHashedStoredKey(absl::string_view stored) { return stored.size() > kKeyPrefixBytes; }
// The first min(kKeyPrefixBytes, size) bytes of a key: order-preserving (non-strictly) for all keys.
inline absl::string_view KeyPrefix(absl::string_view key) {
  return key.substr(0, std::min(key.size(), kKeyPrefixBytes));
}

void PutBigEndian64(uint64_t v, char* out);
uint64_t GetBigEndian64(const char* in);
void EncodeRevision(Revision rev, char* out);  // writes kRevisionBytes
void AppendRevision(Revision rev, std::string* out);
Revision DecodeRevision(const char* in);  // reads kRevisionBytes

// A version record: the value in `latest` and `deleted`, and after the stored key in `versions`.
// `full_key` is present only for hashed stored keys; `value` is the rest of the record.
struct Record {
  bool tombstone = false;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t mod_sub = 0;  // sub revision of mod_revision; stored only when non-zero
  int64_t version = 0;
  int64_t lease = 0;
  // The revision of the key's previous version or deletion marker, the next link of its chain;
  // absent for a key's first version and for a re-creation whose deletion marker was compacted.
  bool has_prev = false;
  Revision prev;
  absl::string_view full_key;  // empty unless the stored key is hashed
  absl::string_view value;
};

// Appends the encoding of `record` to *out.
void EncodeRecord(const Record& record, std::string* out);
// Views into `data` (which must outlive the Record). False if `data` is malformed.
bool DecodeRecord(absl::string_view data, Record* record);
// The record without its sub revision and previous-version link, i.e. in format 1's encoding, which
// HashKV hashes so the hash stays the same across formats: `data` itself when it has neither, else
// re-encoded in *scratch.
absl::string_view RecordForHash(absl::string_view data, std::string* scratch);

// A `versions` value: varint length of the stored key, the stored key, the record.
void EncodeVersionEntry(absl::string_view stored, absl::string_view record, std::string* out);
// Views into `data`. False if malformed.
bool DecodeVersionEntry(absl::string_view data, absl::string_view* stored, absl::string_view* record);

// CRC-32C (Castagnoli), extended from `crc`.
uint32_t Crc32c(uint32_t crc, absl::string_view data);

}  // namespace cairn::mvcc
