#include "server/watch/outbox.h"

#include <algorithm>
#include <utility>

namespace cairn::watch {
namespace {

// A repeated message field costs its tag and a length prefix on top of the message itself.
size_t FieldBytes(size_t message_bytes) { return message_bytes + 1 + 5; }

}  // namespace

Outbox::Outbox(Options options, std::function<void()> on_room)
    : options_(std::move(options)), on_room_(std::move(on_room)) {}

bool Outbox::TryPush(OutboxItem& item, bool* kick) {
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return true;  // the stream is going away; nobody will read this
  if (queued_bytes_ > 0 && queued_bytes_ + item.bytes > options_.buffer_bytes) return false;
  queued_bytes_ += item.bytes;
  queue_.push_back(std::move(item));
  if (!consumer_active_) {
    consumer_active_ = true;
    *kick = true;
  }
  return true;
}

void Outbox::Push(OutboxItem item, bool* kick) {
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return;
  queued_bytes_ += item.bytes;
  queue_.push_back(std::move(item));
  if (!consumer_active_) {
    consumer_active_ = true;
    *kick = true;
  }
}

void Outbox::Kick() {
  absl::MutexLock lock(&sink_mu_);
  if (sink_ != nullptr) sink_->OnOutputReady();
}

bool Outbox::Pop(etcdserverpb::WatchResponse* out) {
  OutboxItem item;
  bool room = false;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      consumer_active_ = false;
      return false;
    }
    if (!fragments_.empty()) {
      *out = std::move(fragments_.front());
      fragments_.pop_front();
      return true;
    }
    if (queue_.empty()) {
      consumer_active_ = false;
      return false;
    }
    item = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= item.bytes;
    if (item.control == nullptr) MergeLaterEventsLocked(&item);
    if (wants_room_ && queued_bytes_ < options_.buffer_bytes / 2) {
      wants_room_ = false;
      room = true;
    }
  }
  if (room && on_room_) on_room_();

  Build(item, out);
  if (item.fragment && out->events_size() >= 2 && out->ByteSizeLong() >= options_.max_response_bytes) {
    std::vector<etcdserverpb::WatchResponse> rest = Fragment(out);
    if (!rest.empty()) {
      absl::MutexLock lock(&mu_);
      for (auto& piece : rest) fragments_.push_back(std::move(piece));
    }
  }
  return true;
}

void Outbox::MergeLaterEventsLocked(OutboxItem* item) {
  // A watcher whose events queued up while a write was in flight gets them in one response rather
  // than one response per batch: with many watchers per stream this divides the number of gRPC
  // writes (and their cost) by the backlog. Only events of the same watcher merge, in their order,
  // and never past a control response of that watcher (a cancel must stay after its events).
  constexpr size_t kScanLimit = 256;
  size_t bytes = item->bytes;
  size_t scanned = 0;
  for (auto it = queue_.begin(); it != queue_.end() && scanned < kScanLimit; ++scanned) {
    if (it->watch_id != item->watch_id) {
      ++it;
      continue;
    }
    if (it->control != nullptr || it->with_prev_kv != item->with_prev_kv || it->fragment != item->fragment ||
        bytes + it->bytes > options_.max_response_bytes) {
      break;
    }
    if (it->batch == item->batch) {
      item->picks.insert(item->picks.end(), it->picks.begin(), it->picks.end());
    } else {
      // Different batches: keep the merged events in their own vector so picks stay indices.
      auto merged = std::make_shared<std::vector<mvccpb::Event>>();
      merged->reserve(item->picks.size() + it->picks.size());
      for (uint32_t index : item->picks) merged->push_back((*item->batch)[index]);
      for (uint32_t index : it->picks) merged->push_back((*it->batch)[index]);
      item->picks.resize(merged->size());
      for (uint32_t i = 0; i < item->picks.size(); ++i) item->picks[i] = i;
      item->batch = std::move(merged);
    }
    item->header_revision = std::max(item->header_revision, it->header_revision);
    bytes += it->bytes;
    item->bytes += it->bytes;
    queued_bytes_ -= it->bytes;
    it = queue_.erase(it);
  }
}

void Outbox::Build(OutboxItem& item, etcdserverpb::WatchResponse* out) const {
  if (item.control != nullptr) {
    *out = std::move(*item.control);
  } else {
    out->Clear();
    out->set_watch_id(item.watch_id);
    out->mutable_events()->Reserve(static_cast<int>(item.picks.size()));
    for (uint32_t index : item.picks) {
      mvccpb::Event* event = out->add_events();
      *event = (*item.batch)[index];
      if (!item.with_prev_kv) event->clear_prev_kv();
    }
  }
  etcdserverpb::ResponseHeader* header = out->mutable_header();
  if (options_.stamper) options_.stamper(header);
  header->set_revision(item.header_revision);
}

std::vector<etcdserverpb::WatchResponse> Outbox::Fragment(etcdserverpb::WatchResponse* out) const {
  // Every piece carries the same header and watch id; all but the last are marked as fragments.
  etcdserverpb::WatchResponse whole = std::move(*out);
  etcdserverpb::WatchResponse shell = whole;
  shell.clear_events();
  shell.set_fragment(true);
  const size_t shell_bytes = shell.ByteSizeLong();

  std::vector<etcdserverpb::WatchResponse> pieces;
  etcdserverpb::WatchResponse piece = shell;
  size_t piece_bytes = shell_bytes;
  for (auto& event : *whole.mutable_events()) {
    const size_t event_bytes = FieldBytes(event.ByteSizeLong());
    if (piece.events_size() > 0 && piece_bytes + event_bytes >= options_.max_response_bytes) {
      pieces.push_back(std::move(piece));
      piece = shell;
      piece_bytes = shell_bytes;
    }
    *piece.add_events() = std::move(event);
    piece_bytes += event_bytes;
  }
  piece.set_fragment(false);
  pieces.push_back(std::move(piece));

  *out = std::move(pieces.front());
  pieces.erase(pieces.begin());
  return pieces;
}

bool Outbox::HasRoom() {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  if (queued_bytes_ < options_.buffer_bytes / 2) return true;
  wants_room_ = true;
  return false;
}

size_t Outbox::QueuedBytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_;
}

void Outbox::SetSink(OutputSink* sink) {
  absl::MutexLock lock(&sink_mu_);
  sink_ = sink;
}

void Outbox::Close() {
  {
    absl::MutexLock lock(&sink_mu_);
    sink_ = nullptr;
  }
  absl::MutexLock lock(&mu_);
  closed_ = true;
  queue_.clear();
  fragments_.clear();
  queued_bytes_ = 0;
}

}  // namespace cairn::watch
