// The questions asked of the format-2 fixture store (format2.mdb), shared by the program that
// wrote it (make_format2.cc, built against format 2's code) and by upgrade_test.cc (format 3), so
// both print the answers the same way. Each answer is one line.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mvcc/store.h"

namespace cairn::mvcc::format2_fixture {

// Long keys are shown by length and last bytes, so answers stay short.
inline std::string ShowKey(const std::string& key) {
  if (key.size() <= 40) return key;
  return absl::StrCat("long", key.size(), "/", key.substr(key.size() - 3));
}

inline std::string ShowKv(const mvccpb::KeyValue& kv) {
  return absl::StrCat(ShowKey(kv.key()), "=", kv.value(), "@", kv.create_revision(), "/", kv.mod_revision(), "/v",
                      kv.version(), "/l", kv.lease());
}

// "range R" (every key at R), "get KEY R" (one key at R), "events FROM", "hash R", "leases".
inline std::vector<std::string> Queries() {
  std::vector<std::string> queries;
  for (int rev : {11, 12, 13, 14, 15, 16, 17, 18, 0}) queries.push_back(absl::StrCat("range ", rev));
  for (const char* key : {"a", "b", "c", "d", "e", "f"}) {
    for (int rev : {11, 13, 16, 0}) queries.push_back(absl::StrCat("get ", key, " ", rev));
  }
  for (int from : {12, 14, 18}) queries.push_back(absl::StrCat("events ", from));
  for (int rev : {11, 12, 14, 16, 0}) queries.push_back(absl::StrCat("hash ", rev));
  queries.push_back("leases");
  return queries;
}

inline std::string LongKey(char last) { return std::string(450, 'L') + std::string(2, last) + "z"; }

inline std::string Answer(const Store& store, const std::string& query) {
  std::vector<std::string> words;
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find(' ', start);
    if (end == std::string::npos) end = query.size();
    words.push_back(query.substr(start, end - start));
    start = end + 1;
  }
  std::string out;
  if (words[0] == "range" || words[0] == "get") {
    etcdserverpb::RangeRequest req;
    if (words[0] == "range") {
      req.set_key(std::string(1, '\0'));
      req.set_range_end(std::string(1, '\0'));
      req.set_revision(std::stoll(words[1]));
    } else {
      req.set_key(words[1]);
      req.set_revision(std::stoll(words[2]));
    }
    etcdserverpb::RangeResponse resp;
    absl::Status s = store.Range(req, &resp);
    if (!s.ok()) return s.ToString();
    absl::StrAppend(&out, "count=", resp.count(), " rev=", resp.header().revision());
    for (const auto& kv : resp.kvs()) absl::StrAppend(&out, " ", ShowKv(kv));
    return out;
  }
  if (words[0] == "events") {
    std::vector<mvccpb::Event> events;
    int64_t next = 0;
    absl::Status s =
        store.ReadEvents(std::string(1, '\0'), std::string(1, '\0'), std::stoll(words[1]), 1000, &events, &next);
    if (!s.ok()) return s.ToString();
    absl::StrAppend(&out, "next=", next);
    for (const auto& e : events) {
      absl::StrAppend(&out, " ", e.type() == mvccpb::Event::PUT ? "PUT " : "DEL ", ShowKv(e.kv()));
      if (e.has_prev_kv()) absl::StrAppend(&out, " prev ", ShowKv(e.prev_kv()));
      out += ";";
    }
    return out;
  }
  if (words[0] == "hash") {
    int64_t hash_rev = 0, compact_rev = 0;
    auto hash = store.HashKV(std::stoll(words[1]), &hash_rev, &compact_rev);
    if (!hash.ok()) return hash.status().ToString();
    return absl::StrCat(*hash, " at ", hash_rev, " compacted ", compact_rev);
  }
  if (words[0] == "leases") {
    std::vector<Store::LeaseRecord> leases;
    if (auto s = store.ListLeases(&leases); !s.ok()) return s.ToString();
    for (const auto& lease : leases) {
      absl::StrAppend(&out, lease.id, "/ttl", lease.ttl, ":");
      std::vector<std::string> keys;
      if (auto s = store.LeaseKeys(lease.id, &keys); !s.ok()) return s.ToString();
      for (const auto& key : keys) absl::StrAppend(&out, " ", ShowKey(key));
      out += ";";
    }
    return out;
  }
  return "unknown query";
}

}  // namespace cairn::mvcc::format2_fixture
