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
  Enqueue(std::move(item));
  *kick = ClaimConsumerLocked();
  return true;
}

void Outbox::TryPushAll(std::vector<OutboxItem>& items, std::vector<uint8_t>* accepted, bool* kick) {
  accepted->assign(items.size(), 1);
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return;  // as TryPush: dropped, nobody will read them
  int64_t refused_id = 0;
  bool refused_any = false;
  for (size_t i = 0; i < items.size(); ++i) {
    OutboxItem& item = items[i];
    // A watcher's later pieces never overtake a refused one (its items for one batch are adjacent).
    if ((refused_any && item.watch_id == refused_id) ||
        (queued_bytes_ > 0 && queued_bytes_ + item.bytes > options_.buffer_bytes)) {
      (*accepted)[i] = 0;
      refused_id = item.watch_id;
      refused_any = true;
      continue;
    }
    Enqueue(std::move(item));
  }
  *kick = ClaimConsumerLocked();
}

void Outbox::Push(OutboxItem item, bool* kick) {
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return;
  Enqueue(std::move(item));
  *kick = ClaimConsumerLocked();
}

bool Outbox::ClaimConsumerLocked() {
  // While a paced wake-up is pending the consumer stays idle: the wake-up kicks it.
  if (consumer_active_ || wake_scheduled_) return false;
  consumer_active_ = true;
  return true;
}

void Outbox::Wake() {
  bool kick = false;
  {
    absl::MutexLock lock(&mu_);
    wake_scheduled_ = false;
    if (!closed_ && !queue_.empty()) kick = ClaimConsumerLocked();
  }
  if (kick) Kick();
}

void Outbox::SetWakeScheduler(WakeScheduler scheduler) {
  absl::MutexLock lock(&mu_);
  wake_scheduler_ = std::move(scheduler);
}

bool Outbox::FrontMayGoLocked() {
  const Slot& front = queue_.front();
  if (front.seq < round_end_seq_) return true;  // part of the round in progress
  // Control responses are never held back; they do not start a round either.
  if (front.item.control != nullptr) return true;
  const auto now = std::chrono::steady_clock::now();
  if (options_.min_round_interval.count() > 0 && wake_scheduler_ &&
      round_responses_ >= options_.paced_round_responses) {
    const auto may_start = round_started_ + options_.min_round_interval;
    if (now < may_start) {
      if (!wake_scheduled_) {
        wake_scheduled_ = true;
        wake_scheduler_(may_start);
      }
      return false;
    }
  }
  round_started_ = now;
  round_end_seq_ = next_seq_;
  round_responses_ = 0;
  return true;
}

void Outbox::Enqueue(OutboxItem item) {
  queued_bytes_ += item.bytes;
  const int64_t watch_id = item.watch_id;
  Slot& slot = queue_.emplace_back();
  slot.item = std::move(item);
  slot.seq = next_seq_++;
  auto [it, inserted] = last_of_watcher_.try_emplace(watch_id, &slot);
  if (!inserted) {
    it->second->next = &slot;
    it->second = &slot;
  }
}

void Outbox::Kick() {
  absl::MutexLock lock(&sink_mu_);
  if (sink_ != nullptr) sink_->OnOutputReady();
}

bool Outbox::Pop(WireResponse* out) {
  Taken taken;
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
    while (!queue_.empty() && queue_.front().taken) queue_.pop_front();
    if (queue_.empty() || !FrontMayGoLocked()) {
      consumer_active_ = false;
      return false;
    }
    TakeFrontLocked(&taken);
    if (taken.front().control == nullptr) ++round_responses_;
    if (wants_room_ && queued_bytes_ < options_.buffer_bytes / 2) {
      wants_room_ = false;
      room = true;
    }
  }
  if (room && on_room_) on_room_();

  std::vector<WireResponse> rest;
  Build(taken, out, &rest);
  if (!rest.empty()) {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      for (auto& piece : rest) fragments_.push_back(std::move(piece));
    }
  }
  return true;
}

bool Outbox::Pop(etcdserverpb::WatchResponse* out) {
  WireResponse wire;
  if (!Pop(&wire)) return false;
  out->Clear();
  return wire.ParseTo(out);
}

void Outbox::TakeFrontLocked(Taken* taken) {
  // A watcher whose events queued up while a write was in flight gets them in one response rather than
  // one response per batch: with many watchers per stream this divides the number of gRPC writes (and
  // their cost) by the backlog. Only events of the same watcher go together, in their order, and never
  // past a control response of that watcher (a cancel must stay after its events).
  Slot& front = queue_.front();
  Slot* last = &front;
  const int64_t watch_id = front.item.watch_id;
  const bool events = front.item.control == nullptr;
  const bool with_prev_kv = front.item.with_prev_kv;
  const bool fragment = front.item.fragment;
  size_t bytes = front.item.bytes;
  queued_bytes_ -= front.item.bytes;
  taken->push_back(std::move(front.item));
  if (events) {
    for (Slot* slot = front.next; slot != nullptr; slot = slot->next) {
      const OutboxItem& item = slot->item;
      if (item.control != nullptr || item.with_prev_kv != with_prev_kv || item.fragment != fragment ||
          bytes + item.bytes > options_.max_response_bytes) {
        break;
      }
      bytes += item.bytes;
      queued_bytes_ -= item.bytes;
      taken->push_back(std::move(slot->item));
      slot->taken = true;
      last = slot;
    }
  }
  if (auto it = last_of_watcher_.find(watch_id); it != last_of_watcher_.end() && it->second == last) {
    last_of_watcher_.erase(it);
  }
  queue_.pop_front();
}

etcdserverpb::ResponseHeader Outbox::Header(int64_t revision) const {
  etcdserverpb::ResponseHeader header;
  if (options_.stamper) options_.stamper(&header);
  header.set_revision(revision);
  return header;
}

void Outbox::Build(Taken& taken, WireResponse* out, std::vector<WireResponse>* rest) const {
  OutboxItem& first = taken.front();
  if (first.control != nullptr) {
    *first.control->mutable_header() = Header(first.header_revision);
    *out = WireResponse::FromMessage(*first.control);
    return;
  }

  const bool prev_kv = first.with_prev_kv;
  int64_t revision = 0;
  size_t events = 0;
  size_t event_bytes = 0;
  for (const OutboxItem& item : taken) {
    revision = std::max(revision, item.header_revision);
    for (const EventRun& run : item.runs) {
      events += run.end - run.begin;
      event_bytes += item.batch->SpanBytes(run.begin, run.end, prev_kv);
    }
  }
  const etcdserverpb::ResponseHeader header = Header(revision);
  *out = WireResponse::WithPrefix(header, first.watch_id, /*fragment=*/false);
  if (!first.fragment || events < 2 || out->bytes() + event_bytes < options_.max_response_bytes) {
    for (const OutboxItem& item : taken) {
      for (const EventRun& run : item.runs) out->Append(item.batch->Span(run.begin, run.end, prev_kv));
    }
    return;
  }

  // Fragments: every piece carries the same header and watch id, all but the last marked as fragments.
  // Pieces are cut before the event that would take a piece to max_response_bytes (counting each event as
  // its message plus a field's worst-case overhead), as long as the piece has an event already.
  const size_t shell_bytes = WireResponse::WithPrefix(header, first.watch_id, /*fragment=*/true).bytes();
  std::vector<WireResponse> pieces(1);  // event slices only; prefixes added below
  size_t piece_bytes = shell_bytes;
  size_t piece_events = 0;
  for (const OutboxItem& item : taken) {
    for (const EventRun& run : item.runs) {
      uint32_t span_begin = run.begin;
      for (uint32_t i = run.begin; i < run.end; ++i) {
        const size_t bytes = FieldBytes(item.batch->EventBytes(i, prev_kv));
        if (piece_events > 0 && piece_bytes + bytes >= options_.max_response_bytes) {
          if (i > span_begin) pieces.back().Append(item.batch->Span(span_begin, i, prev_kv));
          span_begin = i;
          pieces.emplace_back();
          piece_bytes = shell_bytes;
          piece_events = 0;
        }
        piece_bytes += bytes;
        ++piece_events;
      }
      if (run.end > span_begin) pieces.back().Append(item.batch->Span(span_begin, run.end, prev_kv));
    }
  }
  for (size_t p = 0; p < pieces.size(); ++p) {
    WireResponse piece = WireResponse::WithPrefix(header, first.watch_id, /*fragment=*/p + 1 < pieces.size());
    for (const grpc::Slice& slice : pieces[p].slices()) piece.Append(slice);
    if (p == 0) {
      *out = std::move(piece);
    } else {
      rest->push_back(std::move(piece));
    }
  }
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
  last_of_watcher_.clear();
  fragments_.clear();
  queued_bytes_ = 0;
}

}  // namespace cairn::watch
