#include "server/snapshot_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/errors.h"
#include "server/restore.h"

namespace cairn::server {
namespace {

constexpr char kScratchPrefix[] = "client-snapshot-";

std::string ScratchPath(const std::string& dir) {
  static std::atomic<uint64_t> next{0};
  return absl::StrCat(dir, "/", kScratchPrefix, ::getpid(), "-", next.fetch_add(1), ".db");
}

class SnapshotStream final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  explicit SnapshotStream(SnapshotStreamOptions options) : options_(std::move(options)) {
    worker_ = std::thread([this] { Run(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) broken_ = true;  // the stream is gone (cancelled or failed)
    wake_.notify_all();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    broken_ = true;
    wake_.notify_all();
  }

  void OnDone() override {
    // The worker calls Finish as its very last act; gRPC may run OnDone inside that call, on the
    // worker itself, which then only returns.
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();
    } else {
      worker_.join();
    }
    delete this;
  }

 private:
  void Run() {
    absl::Status status = Stream();
    // No write may be in flight when the call finishes.
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return !writing_; });
      if (broken_ && status.ok()) status = absl::CancelledError("snapshot stream cancelled");
    }
    Finish(ToGrpcStatus(status));  // `this` may be gone after this line
  }

  absl::Status Stream() {
    const std::string path = ScratchPath(options_.scratch_dir);
    absl::Status copied = options_.store->CopyTo(path);
    const int fd = copied.ok() ? ::open(path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
    const int open_errno = errno;
    ::unlink(path.c_str());  // the open descriptor keeps the data readable
    if (!copied.ok()) return copied;
    if (fd < 0) return absl::InternalError(absl::StrCat("snapshot: open ", path, ": ", std::strerror(open_errno)));
    absl::Status s = Send(fd);
    ::close(fd);
    return s;
  }

  absl::Status Send(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return absl::InternalError(absl::StrCat("snapshot: stat: ", std::strerror(errno)));
    const uint64_t total = static_cast<uint64_t>(st.st_size);
    Sha256Digest digest;
    uint64_t sent = 0;
    std::string chunk;
    while (sent < total) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(options_.chunk_bytes, total - sent));
      chunk.resize(want);
      size_t got = 0;
      while (got < want) {
        const ssize_t n = ::pread(fd, chunk.data() + got, want - got, static_cast<off_t>(sent + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return absl::InternalError(absl::StrCat("snapshot: read image: ", n == 0 ? "short file" : std::strerror(errno)));
        got += static_cast<size_t>(n);
      }
      digest.Update(chunk.data(), chunk.size());
      sent += want;
      etcdserverpb::SnapshotResponse response;
      response.set_remaining_bytes(total - sent);
      response.set_blob(std::move(chunk));
      chunk = std::string();
      if (!Write(std::move(response))) return absl::OkStatus();  // Run reports the cancellation
    }
    etcdserverpb::SnapshotResponse last;
    last.set_remaining_bytes(0);
    last.set_blob(digest.Finish());
    Write(std::move(last));
    return absl::OkStatus();
  }

  // Waits for the previous write to complete, then starts this one. False once the stream is broken.
  bool Write(etcdserverpb::SnapshotResponse response) {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [this] { return !writing_ || broken_; });
    if (broken_) return false;
    writing_ = true;
    in_flight_ = std::move(response);
    lock.unlock();
    StartWrite(&in_flight_);
    return true;
  }

  const SnapshotStreamOptions options_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool writing_ = false;  // a StartWrite awaits its OnWriteDone
  bool broken_ = false;   // cancelled, or a write failed
  etcdserverpb::SnapshotResponse in_flight_;  // owned by gRPC while writing_
};

}  // namespace

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* StartSnapshotStream(SnapshotStreamOptions options) {
  return new SnapshotStream(std::move(options));
}

void RemoveStaleSnapshotScratch(const std::string& scratch_dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(scratch_dir, ec)) {
    if (entry.path().filename().string().rfind(kScratchPrefix, 0) == 0) std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace cairn::server
