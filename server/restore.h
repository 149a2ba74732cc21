// Snapshot files: what `etcdctl snapshot save` / `cairnctl snapshot save` write from a running
// cairnd (Maintenance.Snapshot), how they are checked, inspected, and restored into a new data dir.
//
// A snapshot file is
//     [store image: an LMDB file as written by mvcc::Store::CopyTo][SHA-256 of the image: 32 bytes]
// The image is a whole number of LMDB pages (a multiple of 512 bytes), so, as with etcd 3.4's
// bbolt snapshots, a file whose length is 32 past a multiple of 512 carries the digest and one whose
// length is a multiple of 512 is a bare image (restorable only with skip_hash_check).
//
// Restoring founds a NEW cluster holding the snapshot's keys, revisions, compaction point and
// leases: the old membership and raft log are dropped, the members come from --initial-cluster and
// the cluster ID from --initial-cluster and --initial-cluster-token (as etcd's restore does). The
// data dir gets the founding raft log (one membership change per member), so `cairnd` started on
// it with the same --name/--initial-* flags serves the data at once, and each member of a
// multi-member cluster restored from the same file with its own --name agrees with the others.
//
// Thread safety: free functions with no shared state; Sha256Digest is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::server {

inline constexpr size_t kSnapshotDigestBytes = 32;

// Incremental SHA-256 (OpenSSL).
class Sha256Digest {
 public:
  Sha256Digest();
  ~Sha256Digest();
  Sha256Digest(const Sha256Digest&) = delete;
  Sha256Digest& operator=(const Sha256Digest&) = delete;
  void Update(const void* data, size_t size);
  std::string Finish();  // the 32-byte digest; the object is spent afterwards

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Copies the store image inside the snapshot file `snapshot_path` to `image_path` (replaced),
// checking the SHA-256 trailer on the way unless `skip_hash_check`. Returns the image's size.
// Errors: NotFound (no such file), FailedPrecondition (no trailer and no skip_hash_check; an etcd
// bbolt snapshot, which only etcd can restore), DataLoss (trailer does not match: corrupt file).
absl::StatusOr<uint64_t> ExtractSnapshotImage(const std::string& snapshot_path, const std::string& image_path,
                                              bool skip_hash_check);

// `cairnctl snapshot status`: etcdctl's four figures, from our own content.
struct SnapshotStatus {
  uint32_t hash = 0;       // the image's HashKV at `revision` (CRC-32C of the key history, as
                           // `endpoint hashkv --rev=<revision>` reports it), not a hash of file pages
  int64_t revision = 0;    // the store revision the snapshot holds
  int64_t total_keys = 0;  // live keys
  int64_t total_size = 0;  // bytes of the store image (the file minus its digest)
};
// Reads the snapshot file, checking its digest when it has one (a mismatch is DataLoss). Works on a
// private copy in a temporary directory (under $TMPDIR or /tmp), removed before returning.
absl::StatusOr<SnapshotStatus> ReadSnapshotStatus(const std::string& snapshot_path);

struct RestoreOptions {
  std::string snapshot_path;
  std::string data_dir;                     // empty: "<name>.cairn", cairnd's default
  std::string wal_dir;                      // --wal-dir: where the log goes; empty: <data-dir>/member/wal
  std::string name = "default";             // --name
  std::string initial_cluster;              // empty: "<name>=<first peer URL>"
  std::string initial_cluster_token = "etcd-cluster";
  std::string initial_advertise_peer_urls = "http://localhost:2380";  // comma-separated
  bool skip_hash_check = false;
};

// Creates a new cairnd data dir from a snapshot file (see the top of this file), with its log in
// `wal_dir` when given (cairnd must then be started with the same --wal-dir). Refuses a data dir
// or wal dir that exists and is not empty (FailedPrecondition); on any failure removes what it
// created.
// Errors also: the flag errors of --initial-cluster (InvalidArgument, naming the flag), and those
// of ExtractSnapshotImage.
absl::Status RestoreSnapshot(const RestoreOptions& options);
// The data dir RestoreSnapshot creates for `options` (cairnd's default when data_dir is empty).
std::string RestoreDataDir(const RestoreOptions& options);

}  // namespace cairn::server
