// Deterministic simulator for the raft state machine.
//
// A seed drives every choice: which member ticks, which message is delivered, lost, duplicated
// or held back (reordering, delay), symmetric and one-way partitions, crash-restarts that lose
// whatever the member had not persisted, log compaction, proposals, reads and leadership
// transfers, and membership changes (learners added under fresh ids, promoted, voters removed).
// Each run alternates fault periods with calm periods (all members up, no partition,
// no loss) and after every step checks:
//   * election safety: at most one leader per term;
//   * log matching: entries with the same index and term carry the same data and follow the same
//     previous term, on every member;
//   * leader completeness: a newly elected leader holds every entry anyone has applied;
//   * state machine safety: every member applies the same entry at each index (and snapshots
//     carry the same state);
//   * linearizable reads: a ReadIndex answer covers every write applied before the read began;
//   * liveness: in each calm period a leader is elected and a new proposal commits within a
//     bounded number of steps.
// Single-threaded; one Simulator per run.
#ifndef CAIRN_TESTS_RAFT_SIMULATOR_H_
#define CAIRN_TESTS_RAFT_SIMULATOR_H_

#include <cstdint>
#include <string>

namespace cairn::raft::sim {

struct Options {
  uint64_t seed = 1;
  int steps = 5000;
  int members = 3;  // 3 or 5
  // Deliberately broken raft, to prove the checks can fail.
  bool unsafe_commit_without_quorum = false;
  bool unsafe_read_without_quorum = false;
  bool verbose = false;  // print notable events to stderr
};

struct Result {
  bool ok = true;
  std::string failure;  // what was violated, and at which step
  int steps_run = 0;
  uint64_t leaders_elected = 0;
  uint64_t entries_committed = 0;
  uint64_t reads_served = 0;
  uint64_t crashes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t messages_delivered = 0;
  uint64_t conf_changes_proposed = 0;
};

Result RunSimulation(const Options& options);

// One line that replays the run: "<path>/raft_sim --seed S --steps N --members M [...]".
std::string ReplayCommand(const Options& options);

}  // namespace cairn::raft::sim

#endif  // CAIRN_TESTS_RAFT_SIMULATOR_H_
