// The member's data directory: layout, ownership and identity.
//
//   <data-dir>/member/
//     cairn-format   "cairn-data-format <N>": refuses a data dir written by an incompatible version
//     identity       member and cluster IDs, fixed at first start so flag changes cannot alter them
//     LOCK           flock()ed while a cairnd uses the directory
//     wal/           the write-ahead log (raft/wal), unless --wal-dir puts it elsewhere
//     db/            the LMDB environment (mvcc)
//     snap/          store images being received from the leader
//
//   the log directory (<data-dir>/member/wal, or --wal-dir DIR: a directory of its own, often on
//   its own disk)
//     cairn-wal-owner  "member_id <hex>\ncluster_id <hex>\n": whose log this is
//     LOCK             flock()ed by the Wal while open
//     *.wal            the log's segments (raft/wal/README.md)
//
// Opening checks, in order, so each failure says clearly what is wrong: the directory can be
// created and written; it is not an etcd data dir; its format is this version's; no other cairnd
// holds it; then the log directory (below).
//
// Finding the log. A store without the log it was written with must not start: the log holds the
// acknowledged writes the store has not synced yet, and an empty log would silently drop them (or,
// in a cluster, fork). The log directory carries its owner (cairn-wal-owner, the member and cluster
// IDs of the identity file), written durably when the log directory is first used, before the
// store is opened. So the log is recognised wherever it is, not by a path recorded in the data dir:
// moving it (stop, mv the directory, restart with the new --wal-dir) needs no other change. Refused,
// with the flag and the paths in the message:
//   - the data dir has a store (member/db) and the log directory has no owner file and no log
//     (the first run used another --wal-dir, or none);
//   - the owner file names another member or cluster;
//   - --wal-dir is given while <data-dir>/member/wal still holds a log (forgot to move it, or
//     copied it: two logs, and only one can be current);
//   - a new data dir with a log directory that already holds a log;
//   - a log directory locked by another process (checked here, before anything is opened, and
//     again by the Wal, which holds the lock);
//   - --wal-dir naming the data dir itself or a directory inside <data-dir>/member other than wal/.
// A log in the default place without an owner file was written before owner files existed: it is
// this data dir's, and the file is added. One in a --wal-dir without it is refused (whose is it?).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
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
  // `wal_dir` is --wal-dir: empty for <data-dir>/member/wal. Errors: FailedPrecondition for every
  // refusal above (the message names the directory, and --wal-dir when it is involved), DataLoss
  // for an unreadable identity or owner file, and those of `new_identity`.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path, const std::string& wal_dir,
                                                       const std::function<absl::StatusOr<Identity>()>& new_identity);
  // The log in its default place, <data-dir>/member/wal.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path,
                                                       const std::function<absl::StatusOr<Identity>()>& new_identity) {
    return Open(path, "", new_identity);
  }
  ~DataDir();  // releases the lock

  std::string WalDir() const { return wal_dir_; }  // where the log lives (created, owner file written)
  std::string DbDir() const { return member_ + "/db"; }
  std::string SnapDir() const { return member_ + "/snap"; }  // store images received from a leader
  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  bool created() const { return created_; }  // true when this start initialised the directory

 private:
  DataDir() = default;
  // The log directory checks and set-up described at the top; sets wal_dir_.
  absl::Status OpenLogDir(const std::string& data_dir, const std::string& wal_flag);

  std::string member_;
  std::string wal_dir_;
  int lock_fd_ = -1;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  bool created_ = false;
};

}  // namespace cairn::server
