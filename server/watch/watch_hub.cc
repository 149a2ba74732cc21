#include "server/watch/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "server/watch/encoded_events.h"
#include "server/watch/watch_hub_internal.h"

namespace cairn::watch {
namespace hub_detail {

absl::InlinedVector<Piece, 1> CutAtRevisions(const EncodedBatch& batch, const std::vector<uint32_t>& picks,
                                             bool prev_kv, size_t max_bytes) {
  absl::InlinedVector<Piece, 1> pieces(1);
  for (uint32_t i : picks) {
    const int64_t rev = batch.revision(i);
    Piece* piece = &pieces.back();
    if (!piece->runs.empty() && piece->bytes >= max_bytes && rev != piece->last_rev) {
      piece = &pieces.emplace_back();
    }
    if (!piece->runs.empty() && piece->runs.back().end == i) {
      ++piece->runs.back().end;
    } else {
      piece->runs.push_back(EventRun{i, i + 1});
    }
    piece->bytes += batch.EntryBytes(i, prev_kv);
    piece->last_rev = rev;
  }
  return pieces;
}

OutboxItem EventItem(const Watcher& w, const std::shared_ptr<const EncodedBatch>& batch, Piece& piece,
                     int64_t header_revision) {
  OutboxItem item;
  item.watch_id = w.id;
  item.header_revision = header_revision;
  for (const EventRun& run : piece.runs) item.AddEvents(batch, run.begin, run.end);
  item.with_prev_kv = w.prev_kv;
  item.fragment = w.fragment;
  item.bytes = piece.bytes;
  return item;
}

}  // namespace hub_detail

using hub_detail::CutAtRevisions;
using hub_detail::EventItem;
using hub_detail::Piece;

// ---------------------------------------------------------------- WatchStream

WatchStream::WatchStream(WatchHub* hub, Outbox::Options options)
    : hub_(hub), outbox_(std::move(options), [hub] { hub->SignalCatchup(); }) {}

WatchStream::~WatchStream() { Close(); }

void WatchStream::Create(const etcdserverpb::WatchCreateRequest& request) {
  WatchHub::Kicks kicks;
  {
    absl::MutexLock lock(&hub_->mu_);
    hub_->CreateWatcher(this, request, &kicks);
  }
  WatchHub::RunKicks(kicks);
}

void WatchStream::Refuse(const std::string& reason) {
  WatchHub::Kicks kicks;
  {
    absl::MutexLock lock(&hub_->mu_);
    if (closed_) return;
    hub_->PushRefusal(this, reason, hub_->history_->CurrentRevision(), &kicks);
  }
  WatchHub::RunKicks(kicks);
}

void WatchStream::Cancel(int64_t watch_id) {
  WatchHub::Kicks kicks;
  {
    absl::MutexLock lock(&hub_->mu_);
    if (closed_) return;
    auto it = watchers_.find(watch_id);
    if (it != watchers_.end()) {
      hub_->RemoveWatcher(it->second.get());
    } else if (!compacted_ids_.erase(watch_id)) {
      return;
    }
    auto response = std::make_unique<etcdserverpb::WatchResponse>();
    response->set_watch_id(watch_id);
    response->set_canceled(true);
    hub_->PushControl(this, std::move(response), hub_->history_->CurrentRevision(), &kicks);
    hub_->AnswerProgressIfCaughtUp(this, &kicks);
  }
  WatchHub::RunKicks(kicks);
}

void WatchStream::RequestProgress() {
  // Publications the writer made before this request must be in the outbox before its answer is.
  if (auto self = weak_from_this().lock(); self && hub_->DeferProgressRequest(self)) return;
  RequestProgressNow();
}

void WatchStream::RequestProgressNow() {
  WatchHub::Kicks kicks;
  {
    absl::MutexLock lock(&hub_->mu_);
    if (closed_) return;
    progress_requested_ = true;
    hub_->AnswerProgressIfCaughtUp(this, &kicks);
  }
  WatchHub::RunKicks(kicks);
}

void WatchStream::Close() {
  {
    absl::MutexLock lock(&hub_->mu_);
    if (!closed_) {
      closed_ = true;
      for (auto& [id, w] : watchers_) {
        w->removed = true;
        if (w->synced) {
          hub_->RemoveSynced(w.get());
        } else {
          --hub_->unsynced_count_;
        }
      }
      hub_->watcher_count_ -= watchers_.size();
      watchers_.clear();
      unsynced_.clear();
      compacted_ids_.clear();
      hub_->streams_with_unsynced_.erase(this);
      hub_->streams_.erase(this);
    }
  }
  outbox_.Close();
}

// ---------------------------------------------------------------- WatchHub

WatchHub::WatchHub(const EventHistory* history, HeaderStamper stamper, HubOptions options)
    : history_(history), stamper_(std::move(stamper)), options_(options) {
  last_published_ = history_->CurrentRevision();
  compacted_ = history_->CompactedRevision();
  catchup_thread_ = std::thread([this] { CatchupLoop(); });
  if (options_.async_publish) fan_out_thread_ = std::thread([this] { FanOutLoop(); });
}

WatchHub::~WatchHub() { Shutdown(); }

void WatchHub::Shutdown() {
  {
    absl::MutexLock lock(&queue_mu_);
    queue_stopped_ = true;
    queue_.clear();
    queue_cv_.SignalAll();
  }
  if (fan_out_thread_.joinable() && fan_out_thread_.get_id() != std::this_thread::get_id()) {
    fan_out_thread_.join();
  }
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    catchup_cv_.SignalAll();
  }
  if (catchup_thread_.joinable() && catchup_thread_.get_id() != std::this_thread::get_id()) {
    catchup_thread_.join();
  }
  wake_timer_.Shutdown();
}

std::shared_ptr<WatchStream> WatchHub::OpenStream() {
  Outbox::Options outbox;
  outbox.buffer_bytes = options_.stream_buffer_bytes;
  outbox.max_response_bytes = options_.max_response_bytes;
  outbox.stamper = stamper_;
  outbox.min_round_interval = absl::ToChronoNanoseconds(options_.min_round_interval);
  outbox.paced_round_responses = options_.paced_round_responses;
  outbox.min_quiet = absl::ToChronoNanoseconds(options_.min_quiet);
  std::shared_ptr<WatchStream> stream(new WatchStream(this, std::move(outbox)));
  std::weak_ptr<WatchStream> weak = stream;
  stream->outbox_.SetWakeScheduler([this, weak](std::chrono::steady_clock::time_point when) {
    wake_timer_.At(when, [weak] {
      if (auto alive = weak.lock()) alive->outbox_.Wake();
    });
  });
  absl::MutexLock lock(&mu_);
  streams_.insert(stream.get());
  return stream;
}

size_t WatchHub::WatcherCount() const {
  absl::MutexLock lock(&mu_);
  return watcher_count_;
}

size_t WatchHub::UnsyncedWatcherCount() const {
  absl::MutexLock lock(&mu_);
  return unsynced_count_;
}

// ---------------------------------------------------------------- writer thread

void WatchHub::Publish(std::vector<mvccpb::Event> events, int64_t revision_after_batch) {
  if (!options_.async_publish) return PublishNow(events, revision_after_batch);
  if (RecordIfNothingToFanOut(revision_after_batch)) return;
  Publication publication;
  publication.kind = Publication::Kind::kEvents;
  publication.events = std::move(events);
  publication.revision = revision_after_batch;
  Enqueue(std::move(publication));
}

void WatchHub::PublishWithoutEvents(int64_t revision_after_batch) {
  if (!options_.async_publish) return PublishWithoutEventsNow(revision_after_batch);
  if (RecordIfNothingToFanOut(revision_after_batch)) return;
  Publication publication;
  publication.kind = Publication::Kind::kWithoutEvents;
  publication.revision = revision_after_batch;
  Enqueue(std::move(publication));
}

void WatchHub::Compacted(int64_t compact_revision) {
  if (!options_.async_publish) return CompactedNow(compact_revision);
  Publication publication;
  publication.kind = Publication::Kind::kCompacted;
  publication.revision = compact_revision;
  Enqueue(std::move(publication));
}

bool WatchHub::RecordIfNothingToFanOut(int64_t revision_after_batch) {
  // With nothing queued ahead and no synced watcher, publishing only moves last_published_: doing that
  // here spares a wake-up of the fan-out thread (a context switch) for every write round.
  absl::MutexLock queue_lock(&queue_mu_);
  if (queue_stopped_ || !queue_.empty() || fanning_out_) return false;
  absl::MutexLock lock(&mu_);
  if (shutdown_ || HasSyncedWatchers()) return false;
  last_published_ = std::max(last_published_, revision_after_batch);
  return true;
}

void WatchHub::Enqueue(Publication publication) {
  absl::MutexLock lock(&queue_mu_);
  while (!queue_stopped_ && queue_.size() >= options_.max_queued_publications) queue_cv_.Wait(&queue_mu_);
  if (queue_stopped_) return;
  queue_.push_back(std::move(publication));
  queue_cv_.SignalAll();
}

bool WatchHub::DeferProgressRequest(const std::shared_ptr<WatchStream>& stream) {
  if (!options_.async_publish) return false;
  absl::MutexLock lock(&queue_mu_);
  if (queue_stopped_ || (queue_.empty() && !fanning_out_)) return false;
  Publication publication;
  publication.kind = Publication::Kind::kProgress;
  publication.stream = stream;
  queue_.push_back(std::move(publication));  // not bounded: one per client request, never from the writer
  queue_cv_.SignalAll();
  return true;
}

void WatchHub::WaitUntilPublished() {
  absl::MutexLock lock(&queue_mu_);
  while (!queue_stopped_ && (!queue_.empty() || fanning_out_)) queue_cv_.Wait(&queue_mu_);
}

void WatchHub::FanOutLoop() {
  // Consecutive event batches waiting together are fanned out as one: each watcher then gets one item for
  // all of them, so a fan-out that falls behind the writer catches up instead of falling further behind.
  constexpr size_t kMaxMergedEvents = 10000;
  for (;;) {
    std::vector<Publication> taken;
    {
      absl::MutexLock lock(&queue_mu_);
      while (!queue_stopped_ && queue_.empty()) queue_cv_.Wait(&queue_mu_);
      if (queue_stopped_) return;
      size_t events = 0;
      do {
        events += queue_.front().events.size();
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } while (!queue_.empty() && taken.back().kind == Publication::Kind::kEvents &&
               queue_.front().kind == Publication::Kind::kEvents && events < kMaxMergedEvents);
      fanning_out_ = true;
      queue_cv_.SignalAll();  // room for a waiting Publish
    }
    Publication& first = taken.front();
    switch (first.kind) {
      case Publication::Kind::kEvents:
        for (size_t i = 1; i < taken.size(); ++i) {
          for (mvccpb::Event& e : taken[i].events) first.events.push_back(std::move(e));
        }
        PublishNow(first.events, taken.back().revision);
        break;
      case Publication::Kind::kWithoutEvents:
        PublishWithoutEventsNow(first.revision);
        break;
      case Publication::Kind::kCompacted:
        CompactedNow(first.revision);
        break;
      case Publication::Kind::kProgress:
        if (auto stream = first.stream.lock()) stream->RequestProgressNow();
        break;
    }
    absl::MutexLock lock(&queue_mu_);
    fanning_out_ = false;
    queue_cv_.SignalAll();
  }
}

void WatchHub::PublishNow(const std::vector<mvccpb::Event>& events, int64_t revision_after_batch) {
  Kicks kicks;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    const int64_t first_new = last_published_ + 1;
    last_published_ = std::max(last_published_, revision_after_batch);
    if (events.empty() || !HasSyncedWatchers()) return;

    // Which synced watcher gets which events of the batch (indices, in revision order).
    std::vector<Watcher*>& touched = publish_scratch_;
    touched.clear();
    auto pick = [&touched](Watcher* w, uint32_t index) {
      if (w->picks.empty()) touched.push_back(w);
      w->picks.push_back(index);
    };
    for (uint32_t i = 0; i < events.size(); ++i) {
      const mvccpb::Event& event = events[i];
      const std::string& key = event.kv().key();
      if (auto it = synced_keys_.find(key); it != synced_keys_.end()) {
        for (Watcher* w : it->second) {
          if (w->Wants(event)) pick(w, i);
        }
      }
      for (const auto& [range, watchers] : synced_ranges_) {
        if (!watchers.empty() && !(*watchers.begin())->range.Contains(key)) continue;
        for (Watcher* w : watchers) {
          if (w->Wants(event)) pick(w, i);
        }
      }
    }
    if (touched.empty()) return;

    // Encoded once, shared by every watcher's responses.
    EncodedBatch::Needs needs;
    for (Watcher* w : touched) (w->prev_kv ? needs.with_prev_kv : needs.without_prev_kv) = true;
    const std::shared_ptr<const EncodedBatch> batch = EncodedBatch::Encode(events, needs);

    // Items grouped by stream, so that each outbox is locked once per batch rather than once per watcher.
    std::vector<WatchStream*>& streams = publish_streams_;
    streams.clear();
    for (Watcher* w : touched) {
      WatchStream* stream = w->stream;
      if (stream->publish_items_.empty()) streams.push_back(stream);
      absl::InlinedVector<Piece, 1> pieces =
          CutAtRevisions(*batch, w->picks, w->prev_kv, options_.max_response_bytes);
      w->picks.clear();
      for (size_t p = 0; p < pieces.size(); ++p) {
        // Everything before a refused piece is queued; the watcher then resumes from the piece's revision.
        const int64_t resume_rev = p == 0 ? first_new : batch->revision(pieces[p].runs.front().begin);
        stream->publish_items_.push_back(
            EventItem(*w, batch, pieces[p], p + 1 == pieces.size() ? revision_after_batch : pieces[p].last_rev));
        stream->publish_pieces_.push_back({w, resume_rev});
      }
    }
    for (WatchStream* stream : streams) {
      bool kick = false;
      stream->outbox_.TryPushAll(stream->publish_items_, &stream->publish_accepted_, &kick);
      Watcher* parked = nullptr;
      for (size_t i = 0; i < stream->publish_pieces_.size(); ++i) {
        Watcher* w = stream->publish_pieces_[i].watcher;
        if (stream->publish_accepted_[i]) {
          w->events_since_tick = true;
        } else if (w != parked) {
          Park(w, stream->publish_pieces_[i].resume_rev);
          parked = w;
        }
      }
      stream->publish_items_.clear();
      stream->publish_pieces_.clear();
      if (kick) AddKick(stream, &kicks);
    }
  }
  RunKicks(kicks);
}

void WatchHub::PublishWithoutEventsNow(int64_t revision_after_batch) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  // Every synced watcher has what was published before this batch; one that also has the batch read it
  // from history (its next_rev is past it). The others read it from history now.
  const int64_t first_new = last_published_ + 1;
  last_published_ = std::max(last_published_, revision_after_batch);
  std::vector<Watcher*>& lacking = publish_scratch_;
  lacking.clear();
  auto collect = [&](const absl::flat_hash_set<Watcher*>& watchers) {
    for (Watcher* w : watchers) {
      if (std::max(w->next_rev, first_new) <= revision_after_batch) lacking.push_back(w);
    }
  };
  for (const auto& [key, watchers] : synced_keys_) collect(watchers);
  for (const auto& [range, watchers] : synced_ranges_) collect(watchers);
  for (Watcher* w : lacking) Park(w, first_new);
  lacking.clear();
}

void WatchHub::CompactedNow(int64_t compact_revision) {
  Kicks kicks;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    compacted_ = std::max(compacted_, compact_revision);
    std::vector<WatchStream*> streams(streams_with_unsynced_.begin(), streams_with_unsynced_.end());
    for (WatchStream* stream : streams) {
      std::vector<Watcher*> unsynced(stream->unsynced_.begin(), stream->unsynced_.end());
      for (Watcher* w : unsynced) {
        // A watcher being read right now learns it from the read (or catches up past the compaction).
        if (!w->reading && w->next_rev < compacted_) CancelCompacted(w, compacted_, &kicks);
      }
    }
  }
  RunKicks(kicks);
}

// ---------------------------------------------------------------- watcher bookkeeping

void WatchHub::CreateWatcher(WatchStream* stream, const etcdserverpb::WatchCreateRequest& request,
                             Kicks* kicks) {
  if (stream->closed_) return;
  const int64_t current = history_->CurrentRevision();
  KeyRange range = KeyRange::FromRequest(request.key(), request.range_end());

  auto refuse = [&](const char* reason) { PushRefusal(stream, reason, current, kicks); };
  if (range.IsEmpty()) return refuse(kErrEmptyWatcherRange);

  auto in_use = [stream](int64_t id) {
    return stream->watchers_.contains(id) || stream->compacted_ids_.contains(id);
  };
  int64_t id = request.watch_id();
  if (id == 0) {  // 0 asks the server to choose
    while (in_use(stream->next_auto_id_)) ++stream->next_auto_id_;
    id = stream->next_auto_id_++;
  } else if (in_use(id)) {
    return refuse(kErrDuplicateWatchId);
  }

  auto watcher = std::make_shared<Watcher>();
  Watcher* w = watcher.get();
  w->stream = stream;
  w->id = id;
  w->range = std::move(range);
  for (int filter : request.filters()) {
    if (filter == etcdserverpb::WatchCreateRequest::NOPUT) w->no_put = true;
    if (filter == etcdserverpb::WatchCreateRequest::NODELETE) w->no_delete = true;
  }
  w->prev_kv = request.prev_kv();
  w->progress_notify = request.progress_notify();
  w->fragment = request.fragment();
  w->next_rev = request.start_revision() == 0 ? current + 1 : std::max<int64_t>(request.start_revision(), 1);
  stream->watchers_.emplace(id, std::move(watcher));
  ++watcher_count_;

  auto created = std::make_unique<etcdserverpb::WatchResponse>();
  created->set_watch_id(id);
  created->set_created(true);
  PushControl(stream, std::move(created), current, kicks);

  if (w->next_rev > last_published_) {
    AddSynced(w);  // everything it wants is still to be published
  } else if (w->next_rev < compacted_) {
    ++unsynced_count_;  // balanced by RemoveWatcher
    CancelCompacted(w, compacted_, kicks);
  } else {
    MarkUnsynced(w);
    catchup_signal_ = true;
    catchup_cv_.Signal();
  }
}

void WatchHub::AddSynced(Watcher* w) {
  w->synced = true;
  synced_watchers_.fetch_add(1, std::memory_order_release);
  if (w->range.IsSingleKey()) {
    synced_keys_[w->range.key].insert(w);
  } else {
    synced_ranges_[{w->range.key, w->range.range_end}].insert(w);
  }
}

void WatchHub::RemoveSynced(Watcher* w) {
  if (w->synced) synced_watchers_.fetch_sub(1, std::memory_order_release);
  w->synced = false;
  if (w->range.IsSingleKey()) {
    auto it = synced_keys_.find(w->range.key);
    if (it != synced_keys_.end()) {
      it->second.erase(w);
      if (it->second.empty()) synced_keys_.erase(it);
    }
  } else {
    auto it = synced_ranges_.find(std::make_pair(w->range.key, w->range.range_end));
    if (it != synced_ranges_.end()) {
      it->second.erase(w);
      if (it->second.empty()) synced_ranges_.erase(it);
    }
  }
}

void WatchHub::MarkUnsynced(Watcher* w) {
  w->synced = false;
  w->stream->unsynced_.insert(w);
  streams_with_unsynced_.insert(w->stream);
  ++unsynced_count_;
}

void WatchHub::MarkSynced(Watcher* w, Kicks* kicks) {
  WatchStream* stream = w->stream;
  stream->unsynced_.erase(w);
  if (stream->unsynced_.empty()) streams_with_unsynced_.erase(stream);
  --unsynced_count_;
  AddSynced(w);
  AnswerProgressIfCaughtUp(stream, kicks);
}

void WatchHub::Park(Watcher* w, int64_t first_unsent_revision) {
  RemoveSynced(w);
  w->next_rev = std::max(w->next_rev, first_unsent_revision);
  MarkUnsynced(w);
  // Either the consumer already drained (catch up now) or the outbox will call back when it has.
  if (w->stream->outbox_.HasRoom()) {
    catchup_signal_ = true;
    catchup_cv_.Signal();
  }
}

void WatchHub::RemoveWatcher(Watcher* w) {
  WatchStream* stream = w->stream;
  w->removed = true;
  if (w->synced) {
    RemoveSynced(w);
  } else {
    stream->unsynced_.erase(w);
    if (stream->unsynced_.empty()) streams_with_unsynced_.erase(stream);
    --unsynced_count_;
  }
  --watcher_count_;
  stream->watchers_.erase(w->id);  // may free *w: last
}

void WatchHub::PushRefusal(WatchStream* stream, const std::string& reason, int64_t header_revision, Kicks* kicks) {
  auto response = std::make_unique<etcdserverpb::WatchResponse>();
  response->set_watch_id(kInvalidWatchId);
  response->set_created(true);
  response->set_canceled(true);
  response->set_cancel_reason(reason);
  PushControl(stream, std::move(response), header_revision, kicks);
}

void WatchHub::CancelCompacted(Watcher* w, int64_t compact_revision, Kicks* kicks) {
  WatchStream* stream = w->stream;
  const int64_t id = w->id;
  RemoveWatcher(w);
  stream->compacted_ids_.insert(id);
  auto response = std::make_unique<etcdserverpb::WatchResponse>();
  response->set_watch_id(id);
  response->set_canceled(true);
  response->set_compact_revision(compact_revision);
  // etcd leaves the header revision of a compaction cancel at 0.
  PushControl(stream, std::move(response), 0, kicks);
  AnswerProgressIfCaughtUp(stream, kicks);
}

void WatchHub::AnswerProgressIfCaughtUp(WatchStream* stream, Kicks* kicks) {
  if (!stream->progress_requested_ || !stream->unsynced_.empty()) return;
  stream->progress_requested_ = false;
  auto response = std::make_unique<etcdserverpb::WatchResponse>();
  response->set_watch_id(kInvalidWatchId);
  PushControl(stream, std::move(response), last_published_, kicks);
}

void WatchHub::PushControl(WatchStream* stream, std::unique_ptr<etcdserverpb::WatchResponse> response,
                           int64_t header_revision, Kicks* kicks) {
  OutboxItem item;
  item.watch_id = response->watch_id();
  item.header_revision = header_revision;
  item.bytes = response->ByteSizeLong() + 32;
  item.control = std::move(response);
  bool kick = false;
  stream->outbox_.Push(std::move(item), &kick);
  if (kick) AddKick(stream, kicks);
}

void WatchHub::AddKick(WatchStream* stream, Kicks* kicks) {
  // A stream whose last owner is already destroying it has no consumer left to wake.
  if (auto alive = stream->weak_from_this().lock()) kicks->push_back(std::move(alive));
}

void WatchHub::RunKicks(const Kicks& kicks) {
  for (const auto& stream : kicks) stream->outbox_.Kick();
}

void WatchHub::SignalCatchup() {
  absl::MutexLock lock(&mu_);
  catchup_signal_ = true;
  catchup_cv_.Signal();
}

}  // namespace cairn::watch
