#include "raft/wal/wal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "raft/wal/file_util.h"

namespace cairn::wal {
namespace {

// A leader stops adding queued writers to its batch past this many bytes, so one huge queue does
// not hold every writer behind a single enormous write.
constexpr size_t kMaxGroupBytes = size_t{8} << 20;

constexpr char kLockFileName[] = "LOCK";
constexpr char kTempSuffix[] = ".tmp";
// Ends in ".wal.tmp" so recovery's sweep of unfinished segments removes a leftover one too.
constexpr char kPreparedFileName[] = "prepared-segment.wal.tmp";

// direct_sync needs zero-filled segments (to rewrite whole blocks that already hold zeros) and a log
// that syncs at all (it stages writes until the sync).
bool DirectSyncWanted(const WalOptions& options) {
  return options.direct_sync && options.zero_fill_segments && options.sync;
}

bool CountsAsEntryIndex(RecordType type) { return type == RecordType::kEntry || type == RecordType::kSnapshot; }

absl::Status CheckPayloadSizes(const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (r.payload.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat("wal: record payload of ", r.payload.size(),
                                                     " bytes exceeds the limit of ", kMaxPayloadBytes));
    }
    if (!IsKnownRecordType(static_cast<uint8_t>(r.type))) {
      return absl::InvalidArgumentError(
          absl::StrCat("wal: unknown record type ", static_cast<int>(r.type)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct Wal::Writer {
  const std::vector<Record>* records = nullptr;
  size_t bytes = 0;
  absl::Status status;
  bool done = false;
  std::condition_variable cv;
};

Wal::Wal(const WalOptions& options) : options_(options) {}

Wal::~Wal() {
  preparer_.reset();  // joins the background thread; it never waits on io_mu_
  std::lock_guard<std::mutex> lock(io_mu_);
  // Records staged by Write() without a Sync() still belong in the file (as they would be in the
  // page cache without direct_sync). Best effort: there is nobody left to tell about a failure.
  if (direct_ != nullptr && error_.ok()) (void)FinishDirectTailLocked();
  direct_.reset();
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options, std::vector<Record>* replay) {
  if (options.dir.empty()) return absl::InvalidArgumentError("wal: WalOptions.dir is empty");
  if (options.segment_bytes <= kSegmentHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("wal: segment_bytes must exceed the ", kSegmentHeaderBytes, "-byte segment header"));
  }
  if (absl::Status s = file::CreateDirs(options.dir); !s.ok()) return s;

  std::unique_ptr<Wal> wal(new Wal(options));
  const std::string lock_path = options.dir + "/" + kLockFileName;
  wal->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (wal->lock_fd_ < 0) return file::ErrnoStatus("open", lock_path, errno);
  if (::flock(wal->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("wal: ", options.dir, " is already open by another Wal (", lock_path, " is locked)"));
    }
    return file::ErrnoStatus("flock", lock_path, errno);
  }

  std::vector<Record> discard;
  if (absl::Status s = wal->Recover(replay != nullptr ? replay : &discard); !s.ok()) return s;
  if (options.zero_fill_segments) {
    // Started after recovery, which has removed any leftover prepared file.
    wal->preparer_ = std::make_unique<SegmentPreparer>(wal->prepared_path(), options.segment_bytes, options.sync);
  }
  return wal;
}

absl::Status Wal::Recover(std::vector<Record>* replay) {
  std::lock_guard<std::mutex> lock(io_mu_);
  std::vector<std::string> names;
  if (absl::Status s = file::ListDir(options_.dir, &names); !s.ok()) return s;

  std::vector<Segment> found;
  for (const std::string& name : names) {
    const std::string path = options_.dir + "/" + name;
    if (absl::EndsWith(name, absl::StrCat(".wal", kTempSuffix))) {
      // A segment that crashed before its rename, or a zero-filled file prepared for the next
      // one: neither ever received a record. (A prepared file is not reused: nothing says it was
      // completely written and synced, and the preparer makes a new one in the background.)
      if (absl::Status s = file::RemoveFile(path); !s.ok()) return s;
      continue;
    }
    if (std::optional<SegmentId> id = ParseSegmentFileName(name)) found.push_back(Segment{*id, path, 0});
  }
  std::sort(found.begin(), found.end(), [](const Segment& a, const Segment& b) { return a.id.seq < b.id.seq; });
  for (size_t i = 1; i < found.size(); ++i) {
    if (found[i].id.seq != found[i - 1].id.seq + 1) {
      return absl::DataLossError(absl::StrCat("wal: segment sequence has a gap in ", options_.dir, ": ",
                                              found[i - 1].path, " is followed by ", found[i].path));
    }
  }

  if (found.empty()) {
    int prepared_fd = -1;
    if (options_.zero_fill_segments) {
      // A brand-new log pays for zero-filling its first segment once, here, so that its very
      // first appends are already cheap to sync.
      // If that fails (a nearly full disk, say), start with a growing segment like a roll that
      // finds nothing prepared; the background preparer tries again.
      absl::StatusOr<int> fd =
          file::CreateZeroFilledFile(prepared_path(), options_.segment_bytes, options_.sync, nullptr);
      if (fd.ok()) {
        prepared_fd = *fd;
        ++stats_.segments_prepared;
      } else {
        ++stats_.segment_prepare_errors;
      }
    }
    return CreateSegmentLocked(SegmentId{0, 1}, prepared_fd);
  }

  file::MappedFile mapped;
  for (size_t i = 0; i < found.size(); ++i) {
    Segment& segment = found[i];
    const bool is_last = i + 1 == found.size();
    if (absl::Status s = mapped.Map(segment.path); !s.ok()) return s;
    const absl::string_view contents = mapped.contents();
    if (absl::Status s = CheckSegmentHeader(contents, segment.id, segment.path); !s.ok()) return s;
    ScannedSegment scanned;
    if (absl::Status s = ScanSegment(contents, segment.path, is_last, &scanned); !s.ok()) return s;
    segment.max_entry_index = scanned.max_entry_index;
    for (Record& r : scanned.records) {
      NoteRecordLocked(r);
      replay->push_back(std::move(r));
    }
    segments_.push_back(segment);
    if (is_last) {
      stats_.torn_bytes_dropped = scanned.dropped_bytes;
      user_records_in_segment_ = scanned.records.size();
      if (absl::Status s = OpenTailForAppend(segment, scanned, contents.size()); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Wal::OpenTailForAppend(const Segment& segment, const ScannedSegment& scanned, uint64_t file_size) {
  const uint64_t valid_end = scanned.valid_end;
  const int fd = ::open(segment.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return file::ErrnoStatus("open", segment.path, errno);
  if (options_.zero_fill_segments && file_size >= options_.segment_bytes) {
    // Already full length: keep it that way (cutting it would make appends grow the file again)
    // and overwrite the torn bytes with zeros instead, so nothing stale lies past the write position.
    if (scanned.dropped_bytes > 0) {
      absl::Status s = file::WriteZeros(fd, valid_end, scanned.dropped_bytes, segment.path);
      if (s.ok()) s = file::DataSync(fd, segment.path);
      if (!s.ok()) {
        ::close(fd);
        return s;
      }
    }
    if (DirectSyncWanted(options_)) {
      // Direct writes sync only the blocks they cover: make whatever the page cache still holds for
      // this file (records written by a predecessor that was killed before syncing them, and
      // replayed just now) durable first, so a later acknowledged record never sits on disk behind
      // a hole.
      if (absl::Status s = file::DataSync(fd, segment.path); !s.ok()) {
        ::close(fd);
        return s;
      }
    }
    fd_ = fd;
    write_offset_ = valid_end;
    tail_zero_filled_ = true;
    StartDirectTailLocked(segment.path, file_size);
    return absl::OkStatus();
  }
  // Cut the torn bytes so nothing stale lies past the write position; zero-filled preallocated
  // space is kept when we preallocate anyway.
  const bool preallocate = options_.preallocate && !options_.zero_fill_segments;
  const bool truncate = scanned.dropped_bytes > 0 || (!preallocate && valid_end < file_size);
  if (truncate) {
    if (::ftruncate(fd, static_cast<off_t>(valid_end)) != 0) {
      const int err = errno;
      ::close(fd);
      return file::ErrnoStatus("truncate", segment.path, err);
    }
    if (preallocate) (void)::fallocate(fd, 0, 0, static_cast<off_t>(options_.segment_bytes));
    if (absl::Status s = file::DataSync(fd, segment.path); !s.ok()) {
      ::close(fd);
      return s;
    }
  }
  fd_ = fd;
  write_offset_ = valid_end;
  return absl::OkStatus();
}

void Wal::NoteRecordLocked(const Record& record) {
  switch (record.type) {
    case RecordType::kMetadata: latest_metadata_ = record; break;
    case RecordType::kSnapshot: latest_snapshot_ = record; break;
    case RecordType::kHardState: latest_hard_state_ = record; break;
    case RecordType::kEntry: break;
  }
  if (record.type == RecordType::kEntry) {
    last_index_ = record.index;  // an entry may also rewrite a lower index (Raft log truncation)
  } else if (record.type == RecordType::kSnapshot) {
    // A snapshot never shortens the log; its carried copy at a segment head must not either.
    last_index_ = std::max(last_index_, record.index);
  }
}

std::string Wal::prepared_path() const { return options_.dir + "/" + kPreparedFileName; }

absl::Status Wal::CreateSegmentLocked(const SegmentId& id, int prepared_fd) {
  const std::string path = options_.dir + "/" + SegmentFileName(id);
  const bool zero_filled = prepared_fd >= 0;
  const std::string temp_path = zero_filled ? prepared_path() : path + kTempSuffix;
  const int fd = zero_filled ? prepared_fd : ::open(temp_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return file::ErrnoStatus("create", temp_path, errno);
  auto fail = [&](absl::Status s) {
    ::close(fd);
    ::unlink(temp_path.c_str());
    return s;
  };
  if (!zero_filled && options_.preallocate && !options_.zero_fill_segments) {
    // Best effort: a filesystem without fallocate just grows the file as we append.
    (void)::fallocate(fd, 0, 0, static_cast<off_t>(options_.segment_bytes));
  }
  std::string head = EncodeSegmentHeader(id);
  Segment segment{id, path, 0};
  for (const std::optional<Record>* carried : {&latest_metadata_, &latest_snapshot_, &latest_hard_state_}) {
    if (!carried->has_value()) continue;
    AppendFramedRecord(**carried, &head);
    if (CountsAsEntryIndex((*carried)->type)) {
      segment.max_entry_index = std::max(segment.max_entry_index, (*carried)->index);
    }
  }
  if (absl::Status s = file::PwriteAll(fd, head.data(), head.size(), 0, temp_path); !s.ok()) return fail(s);
  // The header must be on disk before the name appears, so a named segment always has one.
  if (absl::Status s = file::DataSync(fd, temp_path); !s.ok()) return fail(s);
  ++stats_.syncs;
  if (::rename(temp_path.c_str(), path.c_str()) != 0) return fail(file::ErrnoStatus("rename", temp_path, errno));
  if (absl::Status s = file::SyncDir(options_.dir); !s.ok()) {
    ::close(fd);
    return s;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  write_offset_ = head.size();
  tail_zero_filled_ = zero_filled;
  user_records_in_segment_ = 0;
  dirty_ = false;
  segments_.push_back(std::move(segment));
  ++stats_.segments_created;
  if (zero_filled) StartDirectTailLocked(path, options_.segment_bytes);
  return absl::OkStatus();
}

void Wal::StartDirectTailLocked(const std::string& path, uint64_t writable_end) {
  if (!DirectSyncWanted(options_)) return;
  absl::StatusOr<std::unique_ptr<DirectTail>> tail =
      DirectTail::Open(path, fd_, write_offset_, writable_end, refuse_direct_open_for_testing_);
  if (!tail.ok()) {
    // Not an error for the log: this segment is written through the page cache as without the option.
    ++stats_.direct_sync_refusals;
    return;
  }
  direct_ = std::move(*tail);
  if (refuse_direct_writes_for_testing_) direct_->RefuseWritesForTesting();
}

absl::Status Wal::FlushDirectTailLocked() {
  if (direct_->pending().empty()) return absl::OkStatus();
  absl::Status s = direct_->Flush();
  if (absl::IsUnimplemented(s)) {
    // The device refused the direct write and nothing was lost: write the same bytes through the
    // page cache and fdatasync, and carry on that way for the rest of this segment.
    ++stats_.direct_sync_refusals;
    const std::string& path = segments_.back().path;
    const absl::string_view pending = direct_->pending();
    s = file::PwriteAll(fd_, pending.data(), pending.size(), direct_->pending_offset(), path);
    direct_.reset();
    if (!s.ok()) return s;
    return DataSyncTailLocked();
  }
  if (!s.ok()) return s;
  ++stats_.syncs;
  ++stats_.direct_syncs;
  dirty_ = false;
  return absl::OkStatus();
}

absl::Status Wal::DataSyncTailLocked() {
  if (absl::Status s = file::DataSync(fd_, segments_.back().path); !s.ok()) return s;
  ++stats_.syncs;
  dirty_ = false;
  return absl::OkStatus();
}

absl::Status Wal::FinishDirectTailLocked() {
  if (direct_ == nullptr) return absl::OkStatus();
  absl::Status s = FlushDirectTailLocked();
  direct_.reset();
  return s;
}

absl::Status Wal::RollLocked() {
  if (direct_ != nullptr) {
    if (absl::Status s = FinishDirectTailLocked(); !s.ok()) return s;
  } else if (dirty_ && options_.sync) {
    // Finish the old segment first: Sync() only sees the current file.
    if (absl::Status s = DataSyncTailLocked(); !s.ok()) return s;
  }
  const SegmentId next{segments_.back().id.seq + 1, last_index_ + 1};
  if (preparer_ == nullptr) return CreateSegmentLocked(next, -1);
  // Never waits for zeroing: without a ready file this segment grows as it is written, and the
  // first write after the preparer catches up rolls onto a zero-filled one (WriteGroupsLocked).
  const int prepared_fd = preparer_->Take();
  if (prepared_fd < 0) ++stats_.rolls_without_prepared_segment;
  absl::Status s = CreateSegmentLocked(next, prepared_fd);
  if (prepared_fd >= 0) preparer_->Release();  // the prepared path is free again (renamed or removed)
  return s;
}

absl::Status Wal::Poison(absl::Status status) {
  if (error_.ok()) error_ = status;
  return status;
}

absl::Status Wal::WriteGroupsLocked(const std::vector<const std::vector<Record>*>& groups) {
  if (!error_.ok()) return error_;
  for (const std::vector<Record>* group : groups) {
    if (absl::Status s = CheckPayloadSizes(*group); !s.ok()) return s;
  }
  if (preparer_ != nullptr && !tail_zero_filled_ && preparer_->ready()) {
    // The segment being written grows with every append (made while no prepared file was ready,
    // or found that way at Open): leave it for a zero-filled one. Costs one roll, once.
    ++stats_.early_rolls;
    if (absl::Status s = RollLocked(); !s.ok()) return Poison(s);
  }
  auto flush = [this]() -> absl::Status {
    if (scratch_.empty()) return absl::OkStatus();
    if (direct_ != nullptr && !direct_->Fits(scratch_.size())) {
      // Past the zero-filled space (a record bigger than the segment, or a segment size that is not
      // a multiple of the block): the rest of this segment goes through the page cache.
      if (absl::Status s = FinishDirectTailLocked(); !s.ok()) return s;
    }
    if (direct_ != nullptr) {
      direct_->Stage(scratch_);
    } else {
      absl::Status s = file::PwriteAll(fd_, scratch_.data(), scratch_.size(), write_offset_, segments_.back().path);
      if (!s.ok()) return s;
    }
    write_offset_ += scratch_.size();
    stats_.bytes_written += scratch_.size();
    dirty_ = true;
    scratch_.clear();
    if (direct_ != nullptr && direct_->pending().size() >= kMaxGroupBytes) {
      // Many Write()s without a Sync(): bound the staging memory by writing (and syncing) now.
      if (absl::Status s = FlushDirectTailLocked(); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  scratch_.clear();
  for (const std::vector<Record>* group : groups) {
    for (const Record& record : *group) {
      const uint64_t end = write_offset_ + scratch_.size() + FramedSize(record);
      if (user_records_in_segment_ > 0 && end > options_.segment_bytes) {
        if (absl::Status s = flush(); !s.ok()) return Poison(s);
        if (absl::Status s = RollLocked(); !s.ok()) return Poison(s);
      }
      AppendFramedRecord(record, &scratch_);
      ++user_records_in_segment_;
      ++stats_.records_written;
      NoteRecordLocked(record);
      if (CountsAsEntryIndex(record.type)) {
        segments_.back().max_entry_index = std::max(segments_.back().max_entry_index, record.index);
      }
    }
  }
  if (absl::Status s = flush(); !s.ok()) return Poison(s);
  if (scratch_.capacity() > kMaxGroupBytes) std::string().swap(scratch_);
  return absl::OkStatus();
}

absl::Status Wal::SyncLocked() {
  if (!error_.ok()) return error_;
  if (!options_.sync || !dirty_) return absl::OkStatus();
  if (direct_ != nullptr) {
    if (absl::Status s = FlushDirectTailLocked(); !s.ok()) return Poison(s);
    return absl::OkStatus();
  }
  if (absl::Status s = DataSyncTailLocked(); !s.ok()) return Poison(s);
  return absl::OkStatus();
}

absl::Status Wal::Write(const std::vector<Record>& records) {
  std::lock_guard<std::mutex> lock(io_mu_);
  return WriteGroupsLocked({&records});
}

absl::Status Wal::Sync() {
  std::lock_guard<std::mutex> lock(io_mu_);
  return SyncLocked();
}

absl::Status Wal::Append(std::vector<Record> records) {
  Writer self;
  self.records = &records;
  for (const Record& r : records) self.bytes += FramedSize(r);

  std::unique_lock<std::mutex> queue_lock(queue_mu_);
  writers_.push_back(&self);
  self.cv.wait(queue_lock, [&] { return self.done || writers_.front() == &self; });
  if (self.done) {  // a leader committed our records for us
    queue_lock.unlock();
    appends_.fetch_add(1, std::memory_order_relaxed);
    return self.status;
  }

  // We lead: take ourselves and whoever queued behind us, within the byte budget.
  std::vector<Writer*> group;
  std::vector<const std::vector<Record>*> records_of_group;
  size_t group_bytes = 0;
  for (Writer* w : writers_) {
    if (!group.empty() && group_bytes + w->bytes > kMaxGroupBytes) break;
    group.push_back(w);
    records_of_group.push_back(w->records);
    group_bytes += w->bytes;
  }
  queue_lock.unlock();  // others may queue up while we write and sync

  absl::Status status;
  {
    std::lock_guard<std::mutex> io(io_mu_);
    status = WriteGroupsLocked(records_of_group);
    if (status.ok()) status = SyncLocked();
  }

  queue_lock.lock();
  for (Writer* w : group) {
    // The group is exactly the front of the queue: writers only ever join at the back.
    writers_.pop_front();
    if (w == &self) continue;
    w->status = status;
    w->done = true;
    w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();  // hand leadership on
  queue_lock.unlock();
  appends_.fetch_add(1, std::memory_order_relaxed);
  return status;
}

absl::Status Wal::ReleaseBefore(uint64_t index) {
  std::lock_guard<std::mutex> lock(io_mu_);
  if (!error_.ok()) return error_;
  bool removed = false;
  while (segments_.size() > 1 && segments_.front().max_entry_index < index) {
    if (absl::Status s = file::RemoveFile(segments_.front().path); !s.ok()) return s;
    segments_.pop_front();
    ++stats_.segments_deleted;
    removed = true;
  }
  if (removed) return file::SyncDir(options_.dir);
  return absl::OkStatus();
}

WalStats Wal::stats() const {
  std::lock_guard<std::mutex> lock(io_mu_);
  WalStats s = stats_;
  s.appends = appends_.load(std::memory_order_relaxed);
  s.live_segments = segments_.size();
  if (preparer_ != nullptr) {
    s.segments_prepared += preparer_->prepared();
    s.segment_prepare_errors += preparer_->errors();
  }
  return s;
}

uint64_t Wal::last_index() const {
  std::lock_guard<std::mutex> lock(io_mu_);
  return last_index_;
}

void Wal::PauseSegmentPreparerForTesting(bool paused) {
  if (preparer_ != nullptr) preparer_->SetPausedForTesting(paused);
}

void Wal::RefuseDirectIoForTesting(bool at_open) {
  std::lock_guard<std::mutex> lock(io_mu_);
  if (at_open) {
    refuse_direct_open_for_testing_ = true;
    return;
  }
  refuse_direct_writes_for_testing_ = true;
  if (direct_ != nullptr) direct_->RefuseWritesForTesting();
}

}  // namespace cairn::wal
