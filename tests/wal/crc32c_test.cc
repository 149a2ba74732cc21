#include "raft/wal/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace cairn::wal {
namespace {

TEST(Crc32c, MatchesStandardCheckValues) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= data.size(); len += 7) {
      ASSERT_EQ(Crc32c(data.data() + start, len), Crc32cPortable(data.data() + start, len))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32c, SeedChainsPieces) {
  const std::string a = "hello, ", b = "write-ahead log";
  const std::string ab = a + b;
  EXPECT_EQ(Crc32c(b.data(), b.size(), Crc32c(a.data(), a.size())), Crc32c(ab.data(), ab.size()));
}

}  // namespace
}  // namespace cairn::wal
