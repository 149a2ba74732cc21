#include "tools/bench/keys.h"

#include <cstring>

namespace cairn::bench {

std::string KeyAt(const std::string& prefix, int key_size, int64_t index) {
  std::string digits = std::to_string(index);
  std::string key = prefix;
  if (static_cast<int>(digits.size()) < key_size) key.append(key_size - digits.size(), '0');
  key += digits;
  return key;
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string MakeValue(int size) {
  std::string value(size, 'x');
  for (int i = 0; i < size; ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
  return value;
}

void StampValue(std::string* value, int64_t nanos) {
  if (value->size() < sizeof(nanos)) value->resize(sizeof(nanos));
  std::memcpy(value->data(), &nanos, sizeof(nanos));
}

int64_t ReadStamp(const std::string& value) {
  int64_t nanos = 0;
  if (value.size() < sizeof(nanos)) return 0;
  std::memcpy(&nanos, value.data(), sizeof(nanos));
  return nanos;
}

KeyPicker::KeyPicker(std::string prefix, int key_size, int64_t key_space_size, bool sequential, uint64_t seed)
    : prefix_(std::move(prefix)),
      key_size_(key_size),
      key_space_size_(key_space_size),
      sequential_(sequential),
      state_(seed * 0x9E3779B97F4A7C15ull + 1) {}

std::string KeyPicker::Pick(int64_t sequence) {
  if (sequential_) return KeyAt(prefix_, key_size_, sequence % key_space_size_);
  // splitmix64: fast, and good enough to spread keys uniformly.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return KeyAt(prefix_, key_size_, static_cast<int64_t>(z % static_cast<uint64_t>(key_space_size_)));
}

}  // namespace cairn::bench
