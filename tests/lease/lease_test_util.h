// Test doubles for the lease module: a clock moved by hand, a proposer that records proposals and
// lets the test answer them, and in-memory lease records.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/lease/clock.h"
#include "server/lease/lease_records.h"
#include "server/lease/lessor.h"

namespace cairn::lease::testing {

class FakeClock final : public Clock {
 public:
  Time Now() const override { return Time(Duration(nanos_.load())); }
  void Advance(Duration d) { nanos_ += d.count(); }

 private:
  std::atomic<Duration::rep> nanos_{Duration(std::chrono::hours(1)).count()};
};

// Records every proposal; the test decides when and how each is answered.
class RecordingProposer {
 public:
  struct Proposal {
    cairnpb::LogRequest request;
    google::protobuf::Message* response;
    etcdserverpb::ResponseHeader* header;
    std::function<void(absl::Status)> done;
  };

  Proposer AsProposer() {
    return [this](cairnpb::LogRequest request, google::protobuf::Message* response,
                  etcdserverpb::ResponseHeader* header, std::function<void(absl::Status)> done) {
      std::lock_guard<std::mutex> lock(mu_);
      proposals_.push_back(Proposal{std::move(request), response, header, std::move(done)});
    };
  }

  std::vector<Proposal> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Proposal> out;
    out.swap(proposals_);
    return out;
  }

  // IDs of the LeaseRevoke proposals taken, in order.
  static std::vector<int64_t> RevokedIds(const std::vector<Proposal>& proposals) {
    std::vector<int64_t> ids;
    for (const auto& p : proposals) {
      if (p.request.has_lease_revoke()) ids.push_back(p.request.lease_revoke().id());
    }
    return ids;
  }

 private:
  std::mutex mu_;
  std::vector<Proposal> proposals_;
};

class FakeLeaseRecords final : public LeaseRecords {
 public:
  absl::Status AllLeases(std::vector<LeaseRecord>* out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, ttl] : leases) {
      auto r = remaining.find(id);
      out->push_back(LeaseRecord{id, ttl, r == remaining.end() ? 0 : r->second});
    }
    return absl::OkStatus();
  }
  absl::Status KeysOf(int64_t id, std::vector<std::string>* out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys.find(id);
    if (it != keys.end()) *out = it->second;
    return absl::OkStatus();
  }
  int64_t Revision() const override { return revision; }

  std::map<int64_t, int64_t> leases;
  std::map<int64_t, int64_t> remaining;  // checkpointed remaining TTLs
  std::map<int64_t, std::vector<std::string>> keys;
  std::atomic<int64_t> revision{1};

 private:
  mutable std::mutex mu_;
};

}  // namespace cairn::lease::testing
