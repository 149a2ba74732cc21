// In-memory EventHistory and a test "writer" that commits to it and publishes to a hub, as the store's
// writer thread will. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "mvccpb/kv.pb.h"
#include "server/watch/event_history.h"
#include "server/watch/key_range.h"
#include "server/watch/watch_hub.h"

namespace cairn::watch::testing {

struct Op {
  enum Kind { kPut, kDelete } kind = kPut;
  std::string key;
  std::string value;
};

class FakeHistory : public EventHistory {
 public:
  // With strict_limit, ReadEvents stops at exactly max_events even inside a revision (the interface allows it).
  explicit FakeHistory(bool strict_limit = false) : strict_limit_(strict_limit) {}

  // Applies the ops as one revision and returns its events (none when nothing changed).
  std::vector<mvccpb::Event> Commit(const std::vector<Op>& ops) {
    absl::MutexLock lock(&mu_);
    std::vector<mvccpb::Event> out;
    const int64_t rev = current_ + 1;
    for (const Op& op : ops) {
      auto it = live_.find(op.key);
      mvccpb::Event event;
      if (it != live_.end()) *event.mutable_prev_kv() = it->second;
      if (op.kind == Op::kPut) {
        mvccpb::KeyValue kv;
        kv.set_key(op.key);
        kv.set_value(op.value);
        kv.set_mod_revision(rev);
        kv.set_create_revision(it == live_.end() ? rev : it->second.create_revision());
        kv.set_version(it == live_.end() ? 1 : it->second.version() + 1);
        event.set_type(mvccpb::Event::PUT);
        *event.mutable_kv() = kv;
        live_[op.key] = kv;
      } else {
        if (it == live_.end()) continue;
        event.set_type(mvccpb::Event::DELETE);
        event.mutable_kv()->set_key(op.key);
        event.mutable_kv()->set_mod_revision(rev);
        live_.erase(it);
      }
      out.push_back(event);
    }
    if (!out.empty()) {
      current_ = rev;
      log_.insert(log_.end(), out.begin(), out.end());
    }
    return out;
  }

  void Compact(int64_t rev) {
    absl::MutexLock lock(&mu_);
    compacted_ = rev;
    std::vector<mvccpb::Event> kept;
    for (auto& e : log_) {
      if (e.kv().mod_revision() >= rev) kept.push_back(e);
    }
    log_.swap(kept);
  }

  // Every event ever committed (before compaction), for computing what a watcher must see.
  std::vector<mvccpb::Event> All() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }

  absl::Status ReadEvents(const std::string& key, const std::string& range_end, int64_t from_rev,
                          size_t max_events, std::vector<mvccpb::Event>* out, int64_t* next_rev) const override {
    absl::MutexLock lock(&mu_);
    ++reads_;
    if (from_rev < compacted_) {
      return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
    }
    KeyRange range{key, range_end};
    size_t taken = 0;
    for (size_t i = 0; i < log_.size(); ++i) {
      const mvccpb::Event& e = log_[i];
      const int64_t rev = e.kv().mod_revision();
      if (rev < from_rev || !range.Contains(e.kv().key())) continue;
      if (taken >= max_events) {
        const int64_t last = out->back().kv().mod_revision();
        if (strict_limit_) {
          *next_rev = rev == last ? rev : last + 1;  // may resume inside revision `last`
          return absl::OkStatus();
        }
        if (rev != last) {
          *next_rev = last + 1;
          return absl::OkStatus();
        }
      }
      out->push_back(e);
      ++taken;
    }
    *next_rev = current_ + 1;
    return absl::OkStatus();
  }

  int64_t CurrentRevision() const override {
    absl::MutexLock lock(&mu_);
    return current_;
  }
  int64_t CompactedRevision() const override {
    absl::MutexLock lock(&mu_);
    return compacted_;
  }
  int reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  const bool strict_limit_;
  mutable absl::Mutex mu_;
  int64_t current_ = 1;  // an empty etcd store is at revision 1
  int64_t compacted_ = 0;
  std::map<std::string, mvccpb::KeyValue> live_;
  std::vector<mvccpb::Event> log_;
  mutable int reads_ = 0;
};

// Commits then publishes, like the store's writer thread. Use from one thread at a time.
class TestWriter {
 public:
  TestWriter(FakeHistory* history, WatchHub* hub) : history_(history), hub_(hub) {}

  int64_t Put(const std::string& key, const std::string& value) { return Apply({{Op::kPut, key, value}}); }
  int64_t Delete(const std::string& key) { return Apply({{Op::kDelete, key, ""}}); }
  int64_t Apply(const std::vector<Op>& ops) {
    const bool wanted = !skip_unwanted_events_ || hub_->WantsEvents();
    if (apply_time_.count() > 0) std::this_thread::sleep_for(apply_time_);
    auto events = history_->Commit(ops);
    if (wanted) {
      hub_->Publish(std::move(events), history_->CurrentRevision());
    } else if (!events.empty()) {
      hub_->PublishWithoutEvents(history_->CurrentRevision());
    }
    if (wait_) hub_->WaitUntilPublished();  // the hub fans out on its own thread; tests read right after
    return history_->CurrentRevision();
  }
  void Compact(int64_t rev) {
    history_->Compact(rev);
    hub_->Compacted(rev);
    if (wait_) hub_->WaitUntilPublished();
  }
  // Whether Apply/Compact wait for the hub's fan-out (default) or return as the member's writer does.
  void set_wait(bool wait) { wait_ = wait; }
  // Whether Apply asks the hub first if anyone wants the events and, when not, publishes the revision
  // alone (PublishWithoutEvents), as the member's writer does. Off by default.
  void set_skip_unwanted_events(bool skip) { skip_unwanted_events_ = skip; }
  // How long Apply takes between asking the hub and committing, as the store's apply does.
  void set_apply_time(std::chrono::microseconds time) { apply_time_ = time; }

 private:
  FakeHistory* history_;
  WatchHub* hub_;
  bool wait_ = true;
  bool skip_unwanted_events_ = false;
  std::chrono::microseconds apply_time_{0};
};

}  // namespace cairn::watch::testing
