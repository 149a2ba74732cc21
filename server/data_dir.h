// The member's data directory: layout, ownership and identity.
//
//   <data-dir>/member/
//     cairn-format   "cairn-data-format <N>": refuses a data dir written by an incompatible version
//     identity       member and cluster IDs, fixed at first start so flag changes cannot alter them
//     LOCK           flock()ed while a cairnd uses the directory
//     wal/           the write-ahead log (raft/wal)
//     db/            the LMDB environment (mvcc)
//     snap/          store images being received from the leader
//
// Opening checks, in order, so each failure says clearly what is wrong: the directory can be
// created and written; it is not an etcd data dir; its format is this version's; no other cairnd
// holds it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace cairn::server {

inline constexpr int kDataFormatVersion = 1;
// Size of the WAL's segments under wal/. Small segments keep start-up replay short: the log is
// trimmed each time a segment fills.
inline constexpr uint64_t kWalSegmentBytes = 16 << 20;

class DataDir {
 public:
  struct Identity {
    uint64_t member_id = 0;
    uint64_t cluster_id = 0;
  };
  // `new_identity` gives the IDs of a member whose directory has none yet (called only then):
  // derived from flags for a founding member, learned from the cluster for a joining one.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path,
                                                       const std::function<absl::StatusOr<Identity>()>& new_identity);
  ~DataDir();  // releases the lock

  std::string WalDir() const { return member_ + "/wal"; }
  std::string DbDir() const { return member_ + "/db"; }
  std::string SnapDir() const { return member_ + "/snap"; }  // store images received from a leader
  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  bool created() const { return created_; }  // true when this start initialised the directory

 private:
  DataDir() = default;
  std::string member_;
  int lock_fd_ = -1;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  bool created_ = false;
};

}  // namespace cairn::server
