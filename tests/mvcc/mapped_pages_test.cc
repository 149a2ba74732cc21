// The store's data file is mapped; ReleaseMappedPages must give the mapped pages back to the
// kernel (the process's resident memory shrinks) without losing or changing any data.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

// Resident kB of this process's mappings of `path` (from /proc/self/smaps).
long ResidentKbOf(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_file = false;
  long kb = 0;
  while (std::getline(smaps, line)) {
    // A mapping's header line starts with its address range; its fields follow, one per line.
    const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
                        line.find('-') != std::string::npos && line.find(':') > line.find(' ');
    if (header) {
      in_file = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
    } else if (in_file && line.rfind("Rss:", 0) == 0) {
      kb += std::stol(line.substr(4));
    }
  }
  return kb;
}

class MappedPagesTest : public StoreTest {};

TEST_F(MappedPagesTest, ReleasingShrinksResidentMemoryAndKeepsTheData) {
  const std::string value(1000, 'v');
  for (int batch = 0; batch < 40; ++batch) {
    auto writes = store_->BeginWrite();
    for (int i = 0; i < 100; ++i) {
      etcdserverpb::PutRequest req;
      req.set_key("key/" + std::to_string(batch * 100 + i));
      req.set_value(value + std::to_string(i));
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(writes->Put(req, &resp).ok());
    }
    ASSERT_TRUE(writes->Commit().ok());
  }
  etcdserverpb::RangeRequest all;
  all.set_key("key/");
  all.set_range_end("key0");
  ASSERT_EQ(Range(all).kvs_size(), 4000);  // reads every page of the keys
  const std::string data_file = (std::filesystem::path(dir_) / "data.mdb").string();
  const long before = ResidentKbOf(data_file);
  ASSERT_GT(before, 4000) << "4000 values of 1 KB should be resident after writing and reading them";

  store_->ReleaseMappedPages();
  const long after = ResidentKbOf(data_file);
  EXPECT_LT(after, before / 10) << "before " << before << " kB, after " << after << " kB";

  // Everything reads back (through fresh page faults), and writing goes on.
  ASSERT_EQ(Range(all).kvs_size(), 4000);
  etcdserverpb::RangeRequest one;
  one.set_key("key/3917");  // batch 39, request 17
  auto got = Range(one);
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).value(), value + "17");
  Put("key/after", "x");
  store_->ReleaseMappedPages();
  one.set_key("key/after");
  ASSERT_EQ(Range(one).kvs_size(), 1);
  EXPECT_EQ(Range(one).kvs(0).value(), "x");
}

}  // namespace
}  // namespace cairn::mvcc::testing
