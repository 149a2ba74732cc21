// Keys and values of the generated requests.
//
// A key is --prefix followed by its index in the key space, in decimal, zero-padded to
// --key-size digits (longer if the index needs more digits), so keys sort in index order.
// Thread safety: KeyPicker is owned by one request loop; the free functions are pure.
#ifndef CAIRN_TOOLS_BENCH_KEYS_H_
#define CAIRN_TOOLS_BENCH_KEYS_H_

#include <cstdint>
#include <string>

namespace cairn::bench {

std::string KeyAt(const std::string& prefix, int key_size, int64_t index);

// The first key after every key that starts with `prefix` (etcd's prefix range end).
std::string PrefixEnd(const std::string& prefix);

// A value of `size` bytes (not all equal, so nothing can shortcut it).
std::string MakeValue(int size);

// Writes `nanos` into the first 8 bytes of `value` (which must hold 8) and reads it back:
// watch workloads carry the send time of a Put inside its value.
void StampValue(std::string* value, int64_t nanos);
int64_t ReadStamp(const std::string& value);  // 0 if the value is too short

class KeyPicker {
 public:
  KeyPicker(std::string prefix, int key_size, int64_t key_space_size, bool sequential, uint64_t seed);
  // Sequential: the key at `sequence` modulo the key space. Random: uniform over it.
  std::string Pick(int64_t sequence);

 private:
  std::string prefix_;
  int key_size_;
  int64_t key_space_size_;
  bool sequential_;
  uint64_t state_;
};

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_KEYS_H_
