#include "server/concurrency/keys.h"

#include "absl/strings/str_format.h"

namespace cairn::concurrency {

std::string ContenderPrefix(const std::string& name) { return name + "/"; }

std::string ContenderKey(const std::string& prefix, int64_t lease) {
  // Lease ids are positive; etcd prints them with Go's %x, i.e. no padding.
  return prefix + absl::StrFormat("%x", static_cast<uint64_t>(lease));
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
