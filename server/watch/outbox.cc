#include "server/watch/outbox.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace cairn::watch {
namespace {

// A repeated message field costs its tag and a length prefix on top of the message itself.
size_t FieldBytes(size_t message_bytes) { return message_bytes + 1 + 5; }

// Spans of a batch at least this big are referenced by a response; smaller ones are copied.
constexpr size_t kShareSpansFrom = 2048;

}  // namespace

void OutboxItem::AddEvents(const std::shared_ptr<const EncodedBatch>& batch, uint32_t begin, uint32_t end) {
  if (batches.empty() || batches.back() != batch) batches.push_back(batch);
  spans.push_back(EventSpan{batch.get(), begin, end});
}

Outbox::Outbox(Options options, std::function<void()> on_room)
    : options_(std::move(options)), on_room_(std::move(on_room)) {}

bool Outbox::TryPush(OutboxItem& item, bool* kick) {
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return true;  // the stream is going away; nobody will read this
  if (queued_bytes_ > 0 && queued_bytes_ + item.bytes > options_.buffer_bytes) return false;
  Enqueue(std::move(item));
  NotePushLocked();
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
  NotePushLocked();
  *kick = ClaimConsumerLocked();
}

void Outbox::Push(OutboxItem item, bool* kick) {
  absl::MutexLock lock(&mu_);
  *kick = false;
  if (closed_) return;
  Enqueue(std::move(item));
  NotePushLocked();
  *kick = ClaimConsumerLocked();
}

void Outbox::NotePushLocked() {
  if (options_.min_round_interval.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (last_push_.time_since_epoch().count() != 0) {
    push_gap_ = push_gap_ - push_gap_ / 8 + (now - last_push_) / 8;
  }
  last_push_ = now;
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
  // Never held once half the buffer is queued: waiting longer would park watchers instead of batching them.
  if (options_.min_round_interval.count() > 0 && wake_scheduler_ &&
      round_responses_ >= options_.paced_round_responses && queued_bytes_ < options_.buffer_bytes / 2) {
    // Held until the interval has passed, or until pushes have stopped for a while (several of the usual
    // gaps between them): then the burst is over and waiting longer would only add delay.
    const auto may_start = round_started_ + options_.min_round_interval;
    const auto quiet_at = last_push_ + std::max(options_.min_quiet, 4 * push_gap_);
    if (now < may_start && now < quiet_at) {
      if (!wake_scheduled_) {
        wake_scheduled_ = true;
        wake_scheduler_(std::min(may_start, quiet_at));
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
  auto [it, inserted] = last_of_watcher_.try_emplace(item.watch_id, nullptr);
  if (!inserted && CanJoin(it->second->item, item)) {
    Join(&it->second->item, std::move(item));
    return;
  }
  Slot& slot = queue_.emplace_back();
  slot.item = std::move(item);
  slot.seq = next_seq_++;
  if (!inserted) it->second->next = &slot;
  it->second = &slot;
}

bool Outbox::CanJoin(const OutboxItem& earlier, const OutboxItem& later) const {
  return earlier.control == nullptr && later.control == nullptr && earlier.with_prev_kv == later.with_prev_kv &&
         earlier.fragment == later.fragment && earlier.bytes + later.bytes <= options_.max_response_bytes;
}

void Outbox::Join(OutboxItem* earlier, OutboxItem&& later) {
  earlier->spans.insert(earlier->spans.end(), later.spans.begin(), later.spans.end());
  for (auto& batch : later.batches) {
    if (earlier->batches.empty() || earlier->batches.back() != batch) earlier->batches.push_back(std::move(batch));
  }
  earlier->header_revision = std::max(earlier->header_revision, later.header_revision);
  earlier->bytes += later.bytes;
}

void Outbox::Kick() {
  absl::MutexLock lock(&sink_mu_);
  if (sink_ != nullptr) sink_->OnOutputReady();
}

bool Outbox::Pop(WireResponse* out) {
  bool more_ready = false;
  return Pop(out, &more_ready);
}

bool Outbox::Pop(WireResponse* out, bool* more_ready) {
  *more_ready = false;
  OutboxItem taken;
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
      *more_ready = NextReadyLocked();
      return true;
    }
    while (!queue_.empty() && queue_.front().taken) queue_.pop_front();
    if (queue_.empty() || !FrontMayGoLocked()) {
      consumer_active_ = false;
      return false;
    }
    TakeFrontLocked(&taken);
    if (taken.control == nullptr) ++round_responses_;
    if (wants_room_ && queued_bytes_ < options_.buffer_bytes / 2) {
      wants_room_ = false;
      room = true;
    }
    // A control response (created, canceled, progress) is never held back: the first response of a
    // stream is one, and gRPC does not complete a buffered first write until something flushes it, so
    // a watch created and cancelled at once (a compacted start revision) hung with its cancel unsent.
    *more_ready = taken.control == nullptr && NextReadyLocked();
  }
  if (room && on_room_) on_room_();

  std::vector<WireResponse> rest;
  Build(taken, out, &rest);
  if (!rest.empty()) {
    *more_ready = true;
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      for (auto& piece : rest) fragments_.push_back(std::move(piece));
    }
  }
  return true;
}

bool Outbox::NextReadyLocked() {
  if (!fragments_.empty()) return true;
  while (!queue_.empty() && queue_.front().taken) queue_.pop_front();
  if (queue_.empty()) return false;
  const Slot& front = queue_.front();
  // Items of the round in progress and control responses go without waiting; a new round might be held.
  return front.seq < round_end_seq_ || front.item.control != nullptr;
}

bool Outbox::Pop(etcdserverpb::WatchResponse* out) {
  WireResponse wire;
  if (!Pop(&wire)) return false;
  out->Clear();
  return wire.ParseTo(out);
}

void Outbox::TakeFrontLocked(OutboxItem* taken) {
  // Events of the same watcher queued behind other items (e.g. after the front one was full) go together,
  // in their order, never past a control response of that watcher (a cancel must stay after its events).
  Slot& front = queue_.front();
  Slot* last = &front;
  const int64_t watch_id = front.item.watch_id;
  queued_bytes_ -= front.item.bytes;
  *taken = std::move(front.item);
  if (taken->control == nullptr) {
    for (Slot* slot = front.next; slot != nullptr && CanJoin(*taken, slot->item); slot = slot->next) {
      queued_bytes_ -= slot->item.bytes;
      Join(taken, std::move(slot->item));
      slot->taken = true;
      last = slot;
    }
  }
  if (auto it = last_of_watcher_.find(watch_id); it != last_of_watcher_.end() && it->second == last) {
    last_of_watcher_.erase(it);
  }
  queue_.pop_front();
}

void Outbox::BuildWhole(const OutboxItem& taken, const etcdserverpb::ResponseHeader& header,
                        size_t prefix_bytes, WireResponse* out) const {
  // A watcher that caught up over many commits has one small span per commit. Copying those, with the
  // prefix, into one buffer is cheaper than handing gRPC and the kernel many small referenced slices; large
  // spans stay referenced, so a big batch shared by many watchers is never copied per watcher.
  const bool prev_kv = taken.with_prev_kv;
  const int64_t watch_id = taken.watch_id;
  const auto& spans = taken.spans;
  auto bytes_of = [prev_kv](const EventSpan& span) { return span.batch->SpanBytes(span.begin, span.end, prev_kv); };
  out->Clear();
  bool prefix_written = false;
  size_t i = 0;
  while (i < spans.size() || !prefix_written) {
    if (prefix_written && bytes_of(spans[i]) >= kShareSpansFrom) {
      out->Append(spans[i].batch->Span(spans[i].begin, spans[i].end, prev_kv));
      ++i;
      continue;
    }
    size_t end = i;
    size_t bytes = prefix_written ? 0 : prefix_bytes;
    for (; end < spans.size(); ++end) {
      const size_t span_bytes = bytes_of(spans[end]);
      if (span_bytes >= kShareSpansFrom) break;
      bytes += span_bytes;
    }
    grpc::Slice slice(bytes);
    uint8_t* p = const_cast<uint8_t*>(slice.begin());
    if (!prefix_written) {
      p = WireResponse::WritePrefix(header, watch_id, /*fragment=*/false, p);
      prefix_written = true;
    }
    for (; i < end; ++i) {
      const size_t span_bytes = bytes_of(spans[i]);
      std::memcpy(p, spans[i].batch->SpanData(spans[i].begin, prev_kv), span_bytes);
      p += span_bytes;
    }
    out->Append(std::move(slice));
  }
}

etcdserverpb::ResponseHeader Outbox::Header(int64_t revision) const {
  etcdserverpb::ResponseHeader header;
  if (options_.stamper) options_.stamper(&header);
  header.set_revision(revision);
  return header;
}

void Outbox::Build(OutboxItem& first, WireResponse* out, std::vector<WireResponse>* rest) const {
  if (first.control != nullptr) {
    *first.control->mutable_header() = Header(first.header_revision);
    *out = WireResponse::FromMessage(*first.control);
    return;
  }

  const bool prev_kv = first.with_prev_kv;
  size_t events = 0;
  size_t event_bytes = 0;
  for (const EventSpan& span : first.spans) {
    events += span.end - span.begin;
    event_bytes += span.batch->SpanBytes(span.begin, span.end, prev_kv);
  }
  const etcdserverpb::ResponseHeader header = Header(first.header_revision);
  const size_t prefix_bytes = WireResponse::PrefixBytes(header, first.watch_id, /*fragment=*/false);
  if (!first.fragment || events < 2 || prefix_bytes + event_bytes < options_.max_response_bytes) {
    BuildWhole(first, header, prefix_bytes, out);
    return;
  }

  // Fragments: every piece carries the same header and watch id, all but the last marked as fragments.
  // Pieces are cut before the event that would take a piece to max_response_bytes (counting each event as
  // its message plus a field's worst-case overhead), as long as the piece has an event already.
  const size_t shell_bytes = WireResponse::WithPrefix(header, first.watch_id, /*fragment=*/true).bytes();
  std::vector<WireResponse> pieces(1);  // event slices only; prefixes added below
  size_t piece_bytes = shell_bytes;
  size_t piece_events = 0;
  for (const EventSpan& span : first.spans) {
    uint32_t piece_begin = span.begin;
    for (uint32_t i = span.begin; i < span.end; ++i) {
      const size_t bytes = FieldBytes(span.batch->EventBytes(i, prev_kv));
      if (piece_events > 0 && piece_bytes + bytes >= options_.max_response_bytes) {
        if (i > piece_begin) pieces.back().Append(span.batch->Span(piece_begin, i, prev_kv));
        piece_begin = i;
        pieces.emplace_back();
        piece_bytes = shell_bytes;
        piece_events = 0;
      }
      piece_bytes += bytes;
      ++piece_events;
    }
    if (span.end > piece_begin) pieces.back().Append(span.batch->Span(piece_begin, span.end, prev_kv));
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
