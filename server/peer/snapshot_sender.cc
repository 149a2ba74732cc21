#include "server/peer/snapshot_sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/peer/channel.h"

namespace cairn::peer {
namespace {

// Closes a file descriptor when it leaves scope.
class FileCloser {
 public:
  explicit FileCloser(int fd) : fd_(fd) {}
  ~FileCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

SnapshotSender::SnapshotSender(uint64_t peer_id, uint64_t cluster_id, std::shared_ptr<cairnpb::Peer::Stub> stub,
                               cairnpb::Message message, SnapshotSource source, std::function<void(bool)> done)
    : peer_id_(peer_id), cluster_id_(cluster_id), stub_(std::move(stub)), message_(std::move(message)),
      source_(std::move(source)), done_(std::move(done)), thread_([this] { Run(); }) {}

SnapshotSender::~SnapshotSender() {
  Cancel();
  Join();
}

void SnapshotSender::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

void SnapshotSender::Join() {
  if (thread_.joinable()) thread_.join();
}

bool SnapshotSender::Finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

void SnapshotSender::Run() {
  const absl::Status status = Transfer();
  bool cancelled = false;
  {
    absl::MutexLock lock(&mu_);
    cancelled = cancelled_;
  }
  if (!cancelled) {
    if (!status.ok()) {
      std::fprintf(stderr, "cairnd: snapshot to peer %llx failed: %s\n", static_cast<unsigned long long>(peer_id_),
                   status.ToString().c_str());
    }
    if (done_) done_(status.ok());
  }
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

absl::Status SnapshotSender::Transfer() {
  if (!source_) return absl::FailedPreconditionError("no snapshot source set");
  absl::StatusOr<std::string> path = source_(message_);
  if (!path.ok()) return path.status();
  const int fd = open(path->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrFormat("opening %s: %s", *path, std::strerror(errno)));
  FileCloser closer(fd);
  struct stat info;
  if (fstat(fd, &info) != 0) return absl::InternalError(absl::StrFormat("stat %s: %s", *path, std::strerror(errno)));
  const uint64_t total = static_cast<uint64_t>(info.st_size);

  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("snapshot transfer cancelled");
    context_ = &context;
  }
  cairnpb::SnapshotAck ack;
  std::unique_ptr<grpc::ClientWriter<cairnpb::SnapshotChunk>> writer = stub_->Snapshot(&context, &ack);

  cairnpb::SnapshotChunk chunk;
  chunk.set_cluster_id(cluster_id_);
  *chunk.mutable_message() = message_;
  chunk.mutable_message()->mutable_snapshot()->clear_data();
  chunk.set_total_bytes(total);
  bool writing = writer->Write(chunk);
  chunk.Clear();

  absl::Status read_error;
  uint64_t sent = 0;
  std::string buffer;
  while (writing && sent < total) {
    buffer.resize(static_cast<size_t>(std::min<uint64_t>(kSnapshotChunkBytes, total - sent)));
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(sent));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      read_error = absl::InternalError(
          absl::StrFormat("reading %s at %d: %s", *path, sent, n == 0 ? "file shrank" : std::strerror(errno)));
      context.TryCancel();
      break;
    }
    buffer.resize(static_cast<size_t>(n));
    chunk.set_data(std::move(buffer));
    writing = writer->Write(chunk);
    buffer = std::move(*chunk.mutable_data());
    sent += static_cast<uint64_t>(n);
  }
  if (writing) writer->WritesDone();
  const grpc::Status finished = writer->Finish();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  if (!read_error.ok()) return read_error;
  if (!finished.ok()) return ToAbsl(finished);
  if (!ack.ok()) return absl::InternalError("the peer did not confirm the snapshot");
  return absl::OkStatus();
}

}  // namespace cairn::peer
