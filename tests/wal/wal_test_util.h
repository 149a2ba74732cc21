// Helpers shared by the WAL tests: a self-cleaning temp dir and raw file surgery.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <memory>

#include "raft/wal/record.h"
#include "raft/wal/wal.h"

namespace cairn::wal::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/cairn-wal-test-XXXXXX";
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline Record Entry(uint64_t index, std::string payload, uint64_t term = 1) {
  return Record{RecordType::kEntry, term, index, std::move(payload)};
}

// Segment files in `dir`, sorted by name (= by sequence number).
inline std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Opens the log, failing the current test (and returning null) if it cannot.
inline std::unique_ptr<Wal> MustOpen(const WalOptions& options, std::vector<Record>* replay) {
  auto wal = Wal::Open(options, replay);
  EXPECT_TRUE(wal.ok()) << wal.status();
  return wal.ok() ? std::move(*wal) : nullptr;
}

// The indexes of the records of `type`, in order.
inline std::vector<uint64_t> IndexesOf(const std::vector<Record>& records, RecordType type = RecordType::kEntry) {
  std::vector<uint64_t> out;
  for (const Record& r : records) {
    if (r.type == type) out.push_back(r.index);
  }
  return out;
}

// first, first + 1, ..., last_inclusive.
inline std::vector<uint64_t> Range(uint64_t first, uint64_t last_inclusive) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last_inclusive; ++i) out.push_back(i);
  return out;
}

// Waits (generously; not a timing check) until the preparer has finished `count` files in total.
inline ::testing::AssertionResult WaitForPrepared(const Wal& wal, uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (wal.stats().segments_prepared < count) {
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << "preparer finished " << wal.stats().segments_prepared << " of "
                                           << count << " files (errors: " << wal.stats().segment_prepare_errors
                                           << ")";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ::testing::AssertionSuccess();
}

}  // namespace cairn::wal::testing
