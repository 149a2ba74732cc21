#include "server/concurrency/keys.h"

#include "absl/strings/str_format.h"

namespace cairn::concurrency {

std::string ContenderPrefix(const std::string& name) { return name + "/"; }

std::string ContenderKey(const std::string& prefix, int64_t lease) {
  // etcd's clients print the lease with Go's %x of a signed int64: no padding, and a '-' before
  // the magnitude of a negative id. Such an id is never granted, but a key of that name written
  // through KV is still the lease's contender key.
  const uint64_t magnitude = lease < 0 ? 0 - static_cast<uint64_t>(lease)
                                       : static_cast<uint64_t>(lease);
  return prefix + (lease < 0 ? "-" : "") + absl::StrFormat("%x", magnitude);
}

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  // Every byte was 0xff (or the prefix was empty): "\0" means "to the end of the keyspace".
  return std::string(1, '\0');
}

namespace {

etcdserverpb::RangeRequest TopByCreateRevision(const std::string& prefix,
                                               etcdserverpb::RangeRequest::SortOrder order) {
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(PrefixRangeEnd(prefix));
  request.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  request.set_sort_order(order);
  request.set_limit(1);
  return request;
}

}  // namespace

etcdserverpb::RangeRequest OldestContender(const std::string& prefix) {
  return TopByCreateRevision(prefix, etcdserverpb::RangeRequest::ASCEND);
}

etcdserverpb::RangeRequest NewestContenderUpTo(const std::string& prefix,
                                              int64_t max_create_revision) {
  etcdserverpb::RangeRequest request =
      TopByCreateRevision(prefix, etcdserverpb::RangeRequest::DESCEND);
  request.set_max_create_revision(max_create_revision);
  return request;
}

}  // namespace cairn::concurrency
