#include "server/restore.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/config.h"
#include "server/data_dir.h"
#include "server/membership.h"
#include "server/raft_log.h"

namespace cairn::server {

struct Sha256Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256Digest::Sha256Digest() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}

Sha256Digest::~Sha256Digest() { EVP_MD_CTX_free(ctx_->md); }

void Sha256Digest::Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

std::string Sha256Digest::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

namespace {

namespace fs = std::filesystem;

constexpr size_t kCopyChunk = 1 << 20;
// bbolt's meta page magic, at offset 16 of the file: an etcd snapshot, not ours.
constexpr uint32_t kBoltMagic = 0xED0CDAED;

absl::Status ErrnoStatus(const std::string& what, const std::string& path) {
  const int err = errno;
  std::string text = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(text);
  return absl::FailedPreconditionError(text);
}

bool ReadFull(int fd, char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A fresh store in `dir` holding the image at `image_path` (of `image_bytes`).
absl::StatusOr<std::unique_ptr<mvcc::Store>> StoreFromImage(const std::string& dir, const std::string& image_path,
                                                            uint64_t image_bytes) {
  mvcc::StoreOptions options;
  options.dir = dir;
  // Room for the image whatever quota cairnd will run with (LMDB grows the map to fit the file).
  options.quota_bytes = std::max<uint64_t>(2ull << 30, 2 * image_bytes);
  options.no_sync = true;  // synced explicitly once the content is in
  auto store = mvcc::Store::Open(options);
  if (!store.ok()) return store.status();
  if (auto s = (*store)->ReplaceContentsFrom(image_path); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the snapshot does not hold a Cairn store image of this version (", s.message(), ")"));
  }
  return store;
}

// Removes what a failed restore created: the directory itself if it did not exist, else (it was
// empty) its content.
void RemoveCreated(const std::string& root, bool root_existed) {
  std::error_code ec;
  if (!root_existed) {
    fs::remove_all(root, ec);
    return;
  }
  for (const auto& entry : fs::directory_iterator(root, ec)) fs::remove_all(entry.path(), ec);
}

absl::Status RestoreInto(const RestoreOptions& options, const std::string& root,
                         const std::vector<cairnpb::MemberRecord>& founders, DataDir::Identity identity) {
  auto dir = DataDir::Open(root, options.wal_dir,
                           [identity]() -> absl::StatusOr<DataDir::Identity> { return identity; });
  if (!dir.ok()) return dir.status();

  const std::string snap_dir = (*dir)->SnapDir();
  std::error_code ec;
  fs::create_directories(snap_dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create ", snap_dir, ": ", ec.message()));
  const std::string image = snap_dir + "/restore-image.db";
  auto image_bytes = ExtractSnapshotImage(options.snapshot_path, image, options.skip_hash_check);
  if (!image_bytes.ok()) return image_bytes.status();

  {
    auto store = StoreFromImage((*dir)->DbDir(), image, *image_bytes);
    fs::remove(image, ec);
    if (!store.ok()) return store.status();
    // The data stays; the old cluster's raft position and membership go: the store now looks like
    // a new member's that has applied nothing, and the founding log written below rebuilds both.
    std::unique_ptr<mvcc::WriteBatch> batch = (*store)->BeginWrite();
    if (batch == nullptr) return absl::InternalError("cannot start a write transaction on the restored store");
    if (auto s = batch->SetMembership(""); !s.ok()) return s;
    // The old members' alarms name members the new cluster does not have.
    if (auto s = batch->SetAlarms(""); !s.ok()) return s;
    batch->SetApplied(0, 0);
    if (auto s = batch->Commit(); !s.ok()) return s;
    if (auto s = (*store)->Sync(); !s.ok()) return s;
  }

  // The same founding log a new cluster's first start writes (RecoverLog on an empty log), so the
  // membership comes from the restore's flags, as it does for etcd.
  auto founding = RecoverLog({}, StorePoint{}, founders);
  if (!founding.ok()) return founding.status();
  if (!founding->founded) return absl::InternalError("restore: no founding log was produced");
  wal::WalOptions wal_options;
  wal_options.dir = (*dir)->WalDir();
  wal_options.segment_bytes = kWalSegmentBytes;
  std::vector<wal::Record> replay;
  auto wal = wal::Wal::Open(wal_options, &replay);
  if (!wal.ok()) return wal.status();
  if (!replay.empty()) return absl::FailedPreconditionError(absl::StrCat(wal_options.dir, " is not empty"));
  if (auto s = (*wal)->Write(CommittedRecords(founding->entries, founding->hard_state)); !s.ok()) return s;
  return (*wal)->Sync();
}

}  // namespace

absl::StatusOr<uint64_t> ExtractSnapshotImage(const std::string& snapshot_path, const std::string& image_path,
                                              bool skip_hash_check) {
  Fd in(::open(snapshot_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return ErrnoStatus("cannot open snapshot", snapshot_path);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoStatus("cannot stat snapshot", snapshot_path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);

  char head[20] = {};
  if (size >= sizeof(head) && ::pread(in.get(), head, sizeof(head), 0) == static_cast<ssize_t>(sizeof(head))) {
    uint32_t magic = 0;
    std::memcpy(&magic, head + 16, sizeof(magic));
    if (magic == kBoltMagic) {
      return absl::FailedPreconditionError(absl::StrCat(
          snapshot_path, " is an etcd (bbolt) snapshot; only etcd can restore it. Cairn restores snapshots "
          "saved from a cairnd (with cairnctl or etcdctl `snapshot save`)."));
    }
  }

  const bool has_digest = size % 512 == kSnapshotDigestBytes;
  if (!has_digest && !skip_hash_check) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot ", snapshot_path, " has no SHA-256 digest at its end (", size,
        " bytes); it was not saved from a running cairnd or was truncated. "
        "Use --skip-hash-check to restore a bare store image anyway"));
  }
  const uint64_t image_bytes = has_digest ? size - kSnapshotDigestBytes : size;
  if (image_bytes == 0) return absl::FailedPreconditionError(absl::StrCat("snapshot ", snapshot_path, " is empty"));

  Fd out(::open(image_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.get() < 0) return ErrnoStatus("cannot create", image_path);
  Sha256Digest digest;
  std::vector<char> buf(kCopyChunk);
  for (uint64_t done = 0; done < image_bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), image_bytes - done));
    if (!ReadFull(in.get(), buf.data(), n)) return ErrnoStatus("cannot read snapshot", snapshot_path);
    digest.Update(buf.data(), n);
    if (!WriteFull(out.get(), buf.data(), n)) return ErrnoStatus("cannot write", image_path);
    done += n;
  }
  if (has_digest && !skip_hash_check) {
    char trailer[kSnapshotDigestBytes];
    if (!ReadFull(in.get(), trailer, sizeof(trailer))) return ErrnoStatus("cannot read snapshot", snapshot_path);
    const std::string want(trailer, sizeof(trailer));
    const std::string got = digest.Finish();
    if (got != want) {
      ::unlink(image_path.c_str());
      return absl::DataLossError(absl::StrCat("snapshot ", snapshot_path,
                                              " is corrupt: expected sha256 ", absl::BytesToHexString(want),
                                              ", got ", absl::BytesToHexString(got)));
    }
  }
  return image_bytes;
}

absl::StatusOr<SnapshotStatus> ReadSnapshotStatus(const std::string& snapshot_path) {
  const char* tmp_root = ::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp_root != nullptr && *tmp_root ? tmp_root : "/tmp", "/cairn-snapshot-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) return ErrnoStatus("cannot create a temporary directory", pattern);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{pattern};

  // Like etcd's status, a file without a digest is read as it is; one with a wrong digest is refused
  // (LMDB must never be handed a damaged file).
  const std::string image = pattern + "/image.db";
  auto image_bytes = ExtractSnapshotImage(snapshot_path, image, /*skip_hash_check=*/false);
  if (!image_bytes.ok() && absl::IsFailedPrecondition(image_bytes.status())) {
    auto bare = ExtractSnapshotImage(snapshot_path, image, /*skip_hash_check=*/true);
    if (bare.ok()) image_bytes = bare;
  }
  if (!image_bytes.ok()) return image_bytes.status();
  auto store = StoreFromImage(pattern + "/db", image, *image_bytes);
  if (!store.ok()) return store.status();

  SnapshotStatus status;
  status.total_size = static_cast<int64_t>(*image_bytes);
  status.revision = (*store)->CurrentRevision();
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  all.set_count_only(true);
  etcdserverpb::RangeResponse counted;
  if (auto s = (*store)->Range(all, &counted); !s.ok()) return s;
  status.total_keys = counted.count();
  int64_t hash_revision = 0, compact_revision = 0;
  auto hash = (*store)->HashKV(0, &hash_revision, &compact_revision);
  if (!hash.ok()) return hash.status();
  status.hash = *hash;
  return status;
}

std::string RestoreDataDir(const RestoreOptions& options) {
  Config config;
  config.name = options.name;
  config.data_dir = options.data_dir;
  return config.EffectiveDataDir();
}

absl::Status RestoreSnapshot(const RestoreOptions& options) {
  Config config;
  config.name = options.name;
  config.initial_cluster_token = options.initial_cluster_token;
  for (absl::string_view url : absl::StrSplit(options.initial_advertise_peer_urls, ',', absl::SkipWhitespace())) {
    config.initial_advertise_peer_urls.emplace_back(url);
  }
  if (config.initial_advertise_peer_urls.empty()) {
    return absl::InvalidArgumentError("--initial-advertise-peer-urls is empty");
  }
  config.initial_cluster = options.initial_cluster.empty()
                               ? absl::StrCat(options.name, "=", config.initial_advertise_peer_urls[0])
                               : options.initial_cluster;
  auto founders = FoundingMembers(config);
  if (!founders.ok()) return founders.status();
  DataDir::Identity identity;
  identity.cluster_id = StableId(ClusterSeed(config));
  for (const cairnpb::MemberRecord& m : *founders) {
    if (m.name() == config.name) identity.member_id = m.id();
  }

  const std::string root = RestoreDataDir(options);
  std::error_code ec;
  // Both directories must be new or empty; what existed before is what a failure leaves.
  auto check_new_or_empty = [&ec](const std::string& flag, const std::string& dir) -> absl::StatusOr<bool> {
    if (!fs::exists(dir, ec)) return false;
    if (!fs::is_directory(dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(flag, " ", dir, " exists and is not a directory"));
    }
    if (!fs::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(flag, " ", dir, " exists and is not empty; restore needs a new or empty directory"));
    }
    return true;
  };
  auto root_existed = check_new_or_empty("data-dir", root);
  if (!root_existed.ok()) return root_existed.status();
  absl::StatusOr<bool> wal_existed = false;
  if (!options.wal_dir.empty()) {
    wal_existed = check_new_or_empty("wal-dir", options.wal_dir);
    if (!wal_existed.ok()) return wal_existed.status();
  }
  // Checked before anything is created, so a missing or damaged file leaves no half-made directory.
  if (::access(options.snapshot_path.c_str(), R_OK) != 0) return ErrnoStatus("cannot open snapshot", options.snapshot_path);

  absl::Status s = RestoreInto(options, root, *founders, identity);
  if (!s.ok()) {
    RemoveCreated(root, *root_existed);
    if (!options.wal_dir.empty()) RemoveCreated(options.wal_dir, *wal_existed);
  }
  return s;
}

}  // namespace cairn::server
