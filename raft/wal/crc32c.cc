#include "raft/wal/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

namespace cairn::wal {
namespace {

constexpr uint32_t kReflectedPoly = 0x82F63B78u;

// tables[k][b]: the CRC contribution of byte b followed by k zero bytes, for slicing-by-8.
struct SlicingTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr SlicingTables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t crc = b;
      for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kReflectedPoly : 0);
      t[0][b] = crc;
    }
    for (uint32_t b = 0; b < 256; ++b) {
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
    }
  }
};

constexpr SlicingTables kTables;

uint32_t Load32LE(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // x86 and arm64 Linux are little-endian; the format is LE.
  return v;
}

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  while (n >= 8) {
    uint32_t lo = Load32LE(p) ^ crc;
    uint32_t hi = Load32LE(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool CpuHasSse42() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx & bit_SSE4_2) != 0;
}
#endif

using ExtendFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

ExtendFn ChooseExtend() {
#if defined(__x86_64__)
  if (CpuHasSse42()) return &ExtendHardware;
#endif
  return &ExtendPortable;
}

ExtendFn Extend() {
  static const ExtendFn fn = ChooseExtend();
  return fn;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t len, uint32_t seed) {
  return ~Extend()(~seed, static_cast<const uint8_t*>(data), len);
}

uint32_t Crc32cPortable(const void* data, size_t len, uint32_t seed) {
  return ~ExtendPortable(~seed, static_cast<const uint8_t*>(data), len);
}

bool Crc32cIsHardwareAccelerated() { return Extend() != &ExtendPortable; }

}  // namespace cairn::wal
