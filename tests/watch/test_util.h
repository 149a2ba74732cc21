// Helpers shared by the watch tests: reading a stream until a condition holds, and what a watcher must see.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "server/watch/key_range.h"
#include "server/watch/watch_hub.h"

namespace cairn::watch::testing {

// Generous: only reached when something is broken (tests must not hang).
constexpr std::chrono::seconds kGiveUp(60);

using Responses = std::vector<etcdserverpb::WatchResponse>;

// Pops from `stream` into *got until `done(*got)` is true; false if that did not happen in time.
inline bool PopUntil(WatchStream* stream, Responses* got, const std::function<bool(const Responses&)>& done) {
  const auto give_up = std::chrono::steady_clock::now() + kGiveUp;
  while (!done(*got)) {
    etcdserverpb::WatchResponse response;
    if (stream->Pop(&response)) {
      got->push_back(std::move(response));
      continue;
    }
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Pops whatever is queued right now.
inline void DrainAvailable(WatchStream* stream, Responses* got) {
  etcdserverpb::WatchResponse response;
  while (stream->Pop(&response)) got->push_back(response);
}

// The events delivered to `watch_id`, in delivery order.
inline std::vector<mvccpb::Event> EventsOf(const Responses& responses, int64_t watch_id) {
  std::vector<mvccpb::Event> out;
  for (const auto& r : responses) {
    if (r.watch_id() != watch_id) continue;
    for (const auto& e : r.events()) out.push_back(e);
  }
  return out;
}

inline size_t CountEvents(const Responses& responses, int64_t watch_id) {
  size_t n = 0;
  for (const auto& r : responses) {
    if (r.watch_id() == watch_id) n += r.events_size();
  }
  return n;
}

struct WatchShape {
  std::string key;
  std::string range_end;
  int64_t start_revision = 0;
  bool no_put = false;
  bool no_delete = false;
};

// What etcd promises a watcher: every event in range from its start revision, in order, after filters.
inline std::vector<mvccpb::Event> Expected(const std::vector<mvccpb::Event>& log, const WatchShape& shape) {
  KeyRange range = KeyRange::FromRequest(shape.key, shape.range_end);
  std::vector<mvccpb::Event> out;
  for (const auto& e : log) {
    if (e.kv().mod_revision() < shape.start_revision || !range.Contains(e.kv().key())) continue;
    if (e.type() == mvccpb::Event::PUT && shape.no_put) continue;
    if (e.type() == mvccpb::Event::DELETE && shape.no_delete) continue;
    out.push_back(e);
  }
  return out;
}

// "key@rev" strings: readable failure messages when comparing event sequences.
inline std::vector<std::string> Describe(const std::vector<mvccpb::Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back((e.type() == mvccpb::Event::PUT ? "put " : "del ") + e.kv().key() + "@" +
                  std::to_string(e.kv().mod_revision()));
  }
  return out;
}

inline etcdserverpb::WatchCreateRequest CreateRequest(const std::string& key, const std::string& range_end = "",
                                                      int64_t start_revision = 0) {
  etcdserverpb::WatchCreateRequest request;
  request.set_key(key);
  request.set_range_end(range_end);
  request.set_start_revision(start_revision);
  return request;
}

}  // namespace cairn::watch::testing
