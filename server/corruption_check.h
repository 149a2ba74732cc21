// cairn::server corruption checks — etcd 3.4's --experimental-initial-corrupt-check and
// --experimental-corrupt-check-time: members compare their stores' HashKV over the peer port
// (Peer.HashKV) and act on a mismatch as corruption_rules.h decides.
//
//   CheckInitialHashKV   at start-up, before the member serves anyone: an error when a peer that
//                        answers at this member's revision, compacted alike, hashes differently.
//   CorruptionMonitor    a thread: every period, when this member leads, compares its hash with
//                        the peers' and proposes Alarm ACTIVATE CORRUPT for the member the rules
//                        name (through the log, as a client's Alarm call would be).
//   AnswerPeerHashKV     what this member answers to a peer's Peer.HashKV.
//
// Peers are asked one after another, each within a timeout; a peer that cannot be reached fails at
// once (no waiting for it to come up) and is skipped, as etcd skips it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cairnpb/internal.pb.h"
#include "cairnpb/peer.pb.h"
#include "mvcc/store.h"
#include "server/corruption_rules.h"

namespace cairn::server {

class WritePipeline;

// How this member reaches its peers' Peer.HashKV.
struct PeerHashAsker {
  uint64_t self_id = 0;
  uint64_t cluster_id = 0;
  absl::Duration timeout = absl::Seconds(5);           // per peer
  std::shared_ptr<grpc::ChannelCredentials> peer_tls;  // null: https peers against system roots
  // Asks every member of `membership` but this one (and those without a peer URL) for its hash at
  // `revision`. Blocks up to `timeout` per peer. Thread-safe.
  std::vector<PeerHashAnswer> Ask(const cairnpb::Membership& membership, int64_t revision) const;
};

// The store's HashKV at its current revision.
absl::StatusOr<HashSample> LocalHash(const mvcc::Store& store);

// Peer.HashKV's answer from this member's store (`revision` <= 0: the current one).
absl::StatusOr<cairnpb::PeerHashKVResponse> AnswerPeerHashKV(const mvcc::Store& store, uint64_t self_id,
                                                             int64_t revision);

// The start-up check. Writes what it compared and skipped to stderr; the error (FailedPrecondition,
// see DecideInitialCheck) names the mismatching peers and both hashes.
absl::Status CheckInitialHashKV(const mvcc::Store& store, const cairnpb::Membership& membership,
                                const PeerHashAsker& asker);

struct CorruptionMonitorHooks {
  uint64_t self_id = 0;
  std::function<bool()> is_leader;
  std::function<cairnpb::Membership()> membership;
  std::function<absl::StatusOr<HashSample>()> local_hash;
  // Blocks until a read of the local store is linearizable (or fails).
  std::function<absl::Status()> read_barrier;
  std::function<std::vector<PeerHashAnswer>(const cairnpb::Membership&, int64_t revision)> ask_peers;
  // Whether the cluster's alarm set already holds CORRUPT for `member` (then nothing is proposed).
  std::function<bool(uint64_t member)> corrupt_raised;
  // Proposes ACTIVATE CORRUPT for `member` and waits for the outcome.
  std::function<absl::Status(uint64_t member)> raise_corrupt;
  std::function<void(const std::string&)> log;  // stderr when empty
};

// Thread model: one thread, started by Start(), that sleeps `period`, then (on the leader only)
// runs one check: hash, ask the peers, read barrier, hash again, decide, maybe raise. Stop()
// wakes and joins it; a check in progress finishes first (bounded by the peers' timeouts and the
// pipeline's request timeout; calling Stop() after the pipeline stopped keeps it short).
class CorruptionMonitor {
 public:
  CorruptionMonitor(std::chrono::milliseconds period, CorruptionMonitorHooks hooks);
  ~CorruptionMonitor();  // Stop()s

  void Start();
  void Stop();  // idempotent
  // One check now, on the calling thread (what each period runs). Errors: the local hash, the
  // read barrier or the proposal failed; a check that finds nothing is OK.
  absl::Status CheckOnce();

 private:
  void Run();
  void Log(const std::string& line) const;

  const std::chrono::milliseconds period_;
  CorruptionMonitorHooks hooks_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The monitor for a member: its hooks wired to `pipeline` and `store` (both must outlive it).
std::unique_ptr<CorruptionMonitor> MakeCorruptionMonitor(std::chrono::milliseconds period, WritePipeline* pipeline,
                                                         const mvcc::Store* store, PeerHashAsker asker);

}  // namespace cairn::server
