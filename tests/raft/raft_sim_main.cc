// raft_sim: runs the raft simulator for one seed (to replay a failure) or many (--soak).
//   raft_sim --seed S --steps N --members 3|5 [--verbose]
//   raft_sim --soak [--seeds K] [--steps N] [--first-seed S]
// Exit status 0 when every run passed; 1 and a replay line for the first failure otherwise.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/raft/simulator.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: raft_sim [--seed S] [--steps N] [--members 3|5] [--verbose]\n"
               "       raft_sim --soak [--seeds K] [--first-seed S] [--steps N]\n"
               "       (test only) --unsafe-commit-without-quorum --unsafe-read-without-quorum\n");
}

void Report(const cairn::raft::sim::Options& o, const cairn::raft::sim::Result& r) {
  std::printf("seed %llu members %d steps %d: %s  leaders=%llu committed=%llu reads=%llu "
              "crashes=%llu snapshots=%llu confchanges=%llu delivered=%llu\n",
              (unsigned long long)o.seed, o.members, r.steps_run, r.ok ? "ok" : "FAILED",
              (unsigned long long)r.leaders_elected, (unsigned long long)r.entries_committed,
              (unsigned long long)r.reads_served, (unsigned long long)r.crashes,
              (unsigned long long)r.snapshots_installed, (unsigned long long)r.conf_changes_proposed,
              (unsigned long long)r.messages_delivered);
  if (!r.ok) {
    std::printf("  %s\n  replay: %s\n", r.failure.c_str(),
                cairn::raft::sim::ReplayCommand(o).c_str());
  }
  std::fflush(stdout);  // progress stays visible even if a later seed aborts
}

}  // namespace

int main(int argc, char** argv) {
  cairn::raft::sim::Options o;
  bool soak = false;
  long seeds = 10000;
  unsigned long long first_seed = 1;
  bool steps_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seed") {
      o.seed = std::strtoull(next(), nullptr, 10);
    } else if (a == "--steps") {
      o.steps = std::atoi(next());
      steps_given = true;
    } else if (a == "--members") {
      o.members = std::atoi(next());
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--soak") {
      soak = true;
    } else if (a == "--seeds") {
      seeds = std::atol(next());
    } else if (a == "--first-seed") {
      first_seed = std::strtoull(next(), nullptr, 10);
    } else if (a == "--unsafe-commit-without-quorum") {
      o.unsafe_commit_without_quorum = true;
    } else if (a == "--unsafe-read-without-quorum") {
      o.unsafe_read_without_quorum = true;
    } else {
      Usage();
      return 2;
    }
  }
  if (o.members != 3 && o.members != 5) {
    Usage();
    return 2;
  }
  if (!soak) {
    auto r = cairn::raft::sim::RunSimulation(o);
    Report(o, r);
    return r.ok ? 0 : 1;
  }
  if (!steps_given) o.steps = 20000;
  for (long k = 0; k < seeds; ++k) {
    o.seed = first_seed + k;
    o.members = (k % 2 == 0) ? 3 : 5;
    auto r = cairn::raft::sim::RunSimulation(o);
    if (!r.ok || k % 100 == 0) Report(o, r);
    if (!r.ok) return 1;
  }
  std::printf("soak: %ld seeds of %d steps passed\n", seeds, o.steps);
  return 0;
}
