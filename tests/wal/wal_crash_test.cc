// kill -9 while appending: no acknowledged record may be lost.
//
// A forked child appends from several threads and, after each Append() returns, writes the
// record's index to a pipe. The parent kills it with SIGKILL mid-stream, then reopens the log and
// checks every index the child reported is in the replay.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "raft/wal/wal.h"
#include "tests/wal/wal_test_util.h"

namespace cairn::wal {
namespace {

[[noreturn]] void RunChild(const WalOptions& options, int ack_fd) {
  auto wal = Wal::Open(options, nullptr);
  if (!wal.ok()) _exit(2);
  std::atomic<uint64_t> next_index{(*wal)->last_index() + 1};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        const uint64_t index = next_index.fetch_add(1);
        if (!(*wal)->Append({testing::Entry(index, std::string(100, 'k'))}).ok()) _exit(3);
        // 8-byte writes to a pipe are atomic, so threads' acks never interleave.
        if (::write(ack_fd, &index, sizeof index) != sizeof index) _exit(4);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  _exit(0);
}

// Starts the child, waits for `acks_wanted` acknowledgements (or a deadline), SIGKILLs it and
// returns every acknowledged index.
std::set<uint64_t> AppendUntilKilled(const WalOptions& options, size_t acks_wanted) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    RunChild(options, fds[1]);
  }
  ::close(fds[1]);
  std::set<uint64_t> acked;
  auto read_one = [&]() {
    uint64_t index;
    size_t got = 0;
    while (got < sizeof index) {
      const ssize_t n = ::read(fds[0], reinterpret_cast<char*>(&index) + got, sizeof index - got);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    acked.insert(index);
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (acked.size() < acks_wanted && std::chrono::steady_clock::now() < deadline && read_one()) {
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early, status " << status;
  while (read_one()) {  // acks already in the pipe count too
  }
  ::close(fds[0]);
  return acked;
}

void KillRepeatedlyAndCheckNothingAcknowledgedIsLost(const WalOptions& options) {
  std::set<uint64_t> all_acked;
  for (int round = 0; round < 3; ++round) {
    const std::set<uint64_t> acked = AppendUntilKilled(options, 300);
    ASSERT_FALSE(acked.empty());
    all_acked.insert(acked.begin(), acked.end());

    std::vector<Record> replay;
    auto wal = Wal::Open(options, &replay);
    ASSERT_TRUE(wal.ok()) << "round " << round << ": " << wal.status();
    std::set<uint64_t> present;
    for (const Record& r : replay) present.insert(r.index);
    for (uint64_t index : all_acked) {
      ASSERT_TRUE(present.count(index)) << "round " << round << ": acknowledged index " << index << " lost";
    }
  }
}

TEST(WalCrash, KillDashNineLosesNoAcknowledgedRecord) {
  testing::TempDir tmp;
  // Small segments so the kill can also land during a rollover.
  KillRepeatedlyAndCheckNothingAcknowledgedIsLost({.dir = tmp.path(), .segment_bytes = 16 << 10});
}

TEST(WalCrash, KillDashNineLosesNoAcknowledgedRecordWithZeroFilledSegments) {
  testing::TempDir tmp;
  // The kill can also land while a file is being prepared or taken over by a roll.
  KillRepeatedlyAndCheckNothingAcknowledgedIsLost(
      {.dir = tmp.path(), .segment_bytes = 16 << 10, .zero_fill_segments = true});
}

TEST(WalCrash, KillDashNineLosesNoAcknowledgedRecordWithDirectSync) {
  testing::TempDir tmp;
  KillRepeatedlyAndCheckNothingAcknowledgedIsLost(
      {.dir = tmp.path(), .segment_bytes = 16 << 10, .zero_fill_segments = true, .direct_sync = true});
}

// A write that fails (here: the file-size limit, EFBIG) poisons the log: the failing Append and
// every later call report the error, and what was acknowledged before is still there on reopen.
TEST(WalCrash, WriteFailurePoisonsTheLogAndKeepsAcknowledgedRecords) {
  testing::TempDir tmp;
  WalOptions options{.dir = tmp.path()};
  {
    auto wal = Wal::Open(options, nullptr);  // create the first segment without a limit
    ASSERT_TRUE(wal.ok()) << wal.status();
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of a signal
    struct rlimit limit = {8192, 8192};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    auto wal = Wal::Open(options, nullptr);
    if (!wal.ok()) _exit(3);
    uint64_t index = 1;
    absl::Status failure;
    for (;; ++index) {
      failure = (*wal)->Append({testing::Entry(index, std::string(100, 'r'))});
      if (!failure.ok()) break;
      if (::write(fds[1], &index, sizeof index) != sizeof index) _exit(4);
    }
    // Poisoned: even a tiny record that would fit is refused with the same error, as is Sync().
    if ((*wal)->Append({testing::Entry(index + 1, "")}) != failure) _exit(5);
    if ((*wal)->Sync() != failure) _exit(6);
    _exit(failure.message().find("write") != absl::string_view::npos ? 0 : 7);
  }
  ::close(fds[1]);
  std::set<uint64_t> acked;
  uint64_t index;
  while (::read(fds[0], &index, sizeof index) == sizeof index) acked.insert(index);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  ASSERT_FALSE(acked.empty());

  std::vector<Record> replay;
  auto wal = Wal::Open(options, &replay);
  ASSERT_TRUE(wal.ok()) << wal.status();
  std::set<uint64_t> present;
  for (const Record& r : replay) present.insert(r.index);
  for (uint64_t i : acked) EXPECT_TRUE(present.count(i)) << "acknowledged index " << i << " lost";
  EXPECT_TRUE((*wal)->Append({testing::Entry(*acked.rbegin() + 1, "after reopen")}).ok());
}

}  // namespace
}  // namespace cairn::wal
