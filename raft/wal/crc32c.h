// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every WAL record.
//
// Contract: pure functions, thread-safe, no allocation. The result matches the standard CRC-32C
// (as used by iSCSI, ext4, LevelDB): Crc32c("123456789", 9) == 0xE3069283.
// On x86-64 CPUs with SSE4.2 the hardware crc32 instruction is used (chosen once at run time);
// elsewhere a slicing-by-8 table implementation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::wal {

// Returns the CRC-32C of data[0, len). `seed` is the CRC of the bytes that came before, so a
// checksum can be computed piecewise: Crc32c(b, nb, Crc32c(a, na)) == Crc32c(a+b, na+nb).
uint32_t Crc32c(const void* data, size_t len, uint32_t seed = 0);

// The portable implementation, exposed so tests can check both paths agree.
uint32_t Crc32cPortable(const void* data, size_t len, uint32_t seed = 0);

// True if Crc32c() uses the SSE4.2 instruction on this machine.
bool Crc32cIsHardwareAccelerated();

}  // namespace cairn::wal
