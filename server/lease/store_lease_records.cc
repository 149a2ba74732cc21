#include "mvcc/store.h"
#include "server/lease/lease_records.h"

namespace cairn::lease {
namespace {

class StoreRecords final : public LeaseRecords {
 public:
  explicit StoreRecords(const mvcc::Store* store) : store_(store) {}

  absl::Status AllLeases(std::vector<LeaseRecord>* out) const override {
    std::vector<mvcc::Store::LeaseRecord> stored;
    if (auto s = store_->ListLeases(&stored); !s.ok()) return s;
    out->reserve(out->size() + stored.size());
    for (const auto& r : stored) out->push_back(LeaseRecord{r.id, r.ttl, r.remaining_ttl});
    return absl::OkStatus();
  }

  absl::Status KeysOf(int64_t id, std::vector<std::string>* out) const override {
    return store_->LeaseKeys(id, out);
  }

  int64_t Revision() const override { return store_->CurrentRevision(); }

 private:
  const mvcc::Store* const store_;
};

}  // namespace

std::unique_ptr<LeaseRecords> StoreLeaseRecords(const mvcc::Store* store) {
  return std::make_unique<StoreRecords>(store);
}

}  // namespace cairn::lease
