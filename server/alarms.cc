#include "server/alarms.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mvcc/errors.h"
#include "mvcc/store.h"

namespace cairn::server {
namespace {

// etcd serves a txn that neither puts nor deletes (in either branch, at any depth) without the log,
// so a CORRUPT alarm does not refuse it.
bool TxnWrites(const etcdserverpb::TxnRequest& request) {
  for (const auto* ops : {&request.success(), &request.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put() || op.has_request_delete_range()) return true;
      if (op.has_request_txn() && TxnWrites(op.request_txn())) return true;
    }
  }
  return false;
}

}  // namespace

absl::Status ErrCorrupt() { return absl::DataLossError("etcdserver: corrupt cluster"); }

absl::StatusOr<AlarmSet> AlarmSet::Decode(absl::string_view record) {
  AlarmSet set;
  if (record.empty()) return set;
  cairnpb::AlarmList list;
  if (!list.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return absl::DataLossError("cairn: the store's alarm record does not decode");
  }
  for (const auto& a : list.alarms()) set.Activate(a.memberid(), a.alarm());
  return set;
}

std::string AlarmSet::Encode() const {
  cairnpb::AlarmList list;
  for (const auto& [type, member] : entries_) {
    auto* a = list.add_alarms();
    a->set_memberid(member);
    a->set_alarm(static_cast<etcdserverpb::AlarmType>(type));
  }
  return list.SerializeAsString();
}

bool AlarmSet::Activate(uint64_t member, etcdserverpb::AlarmType type) {
  const std::pair<int, uint64_t> entry{static_cast<int>(type), member};
  auto it = std::lower_bound(entries_.begin(), entries_.end(), entry);
  if (it != entries_.end() && *it == entry) return false;
  entries_.insert(it, entry);
  return true;
}

bool AlarmSet::Deactivate(uint64_t member, etcdserverpb::AlarmType type) {
  const std::pair<int, uint64_t> entry{static_cast<int>(type), member};
  auto it = std::lower_bound(entries_.begin(), entries_.end(), entry);
  if (it == entries_.end() || *it != entry) return false;
  entries_.erase(it);
  return true;
}

bool AlarmSet::Contains(uint64_t member, etcdserverpb::AlarmType type) const {
  return std::binary_search(entries_.begin(), entries_.end(), std::pair<int, uint64_t>{static_cast<int>(type), member});
}

std::vector<etcdserverpb::AlarmMember> AlarmSet::Get(etcdserverpb::AlarmType type) const {
  std::vector<etcdserverpb::AlarmMember> out;
  for (const auto& [t, member] : entries_) {
    if (type != etcdserverpb::NONE && t != static_cast<int>(type)) continue;
    etcdserverpb::AlarmMember& a = out.emplace_back();
    a.set_memberid(member);
    a.set_alarm(static_cast<etcdserverpb::AlarmType>(t));
  }
  return out;
}

uint32_t AlarmSet::ActiveMask() const {
  uint32_t mask = 0;
  // Types outside the mask's range (a newer peer's) still count as "some alarm" via bit 31.
  for (const auto& entry : entries_) mask |= entry.first >= 0 && entry.first < 31 ? uint32_t{1} << entry.first : 1u << 31;
  return mask;
}

bool ApplyAlarmRequest(const etcdserverpb::AlarmRequest& request, AlarmSet* set,
                       etcdserverpb::AlarmResponse* response) {
  etcdserverpb::AlarmMember named;
  named.set_memberid(request.memberid());
  named.set_alarm(request.alarm());
  switch (request.action()) {
    case etcdserverpb::AlarmRequest::ACTIVATE: {
      const bool added = set->Activate(request.memberid(), request.alarm());
      *response->add_alarms() = named;
      return added;
    }
    case etcdserverpb::AlarmRequest::DEACTIVATE: {
      const bool removed = set->Deactivate(request.memberid(), request.alarm());
      if (removed) *response->add_alarms() = named;
      return removed;
    }
    case etcdserverpb::AlarmRequest::GET:
    default:
      for (auto& a : set->Get(request.alarm())) *response->add_alarms() = std::move(a);
      return false;
  }
}

absl::Status AlarmGate(uint32_t active_mask, const cairnpb::LogRequest& request) {
  constexpr uint32_t kCorrupt = AlarmBit(etcdserverpb::CORRUPT);
  constexpr uint32_t kNoSpace = AlarmBit(etcdserverpb::NOSPACE);
  if ((active_mask & (kCorrupt | kNoSpace)) == 0) return absl::OkStatus();
  switch (request.request_case()) {
    case cairnpb::LogRequest::kPut:
    case cairnpb::LogRequest::kLeaseGrant:
      if (active_mask & kCorrupt) return ErrCorrupt();
      return mvcc::ErrNoSpace();
    case cairnpb::LogRequest::kTxn:
      if ((active_mask & kCorrupt) && TxnWrites(request.txn())) return ErrCorrupt();
      return mvcc::TxnHasPuts(request.txn()) ? mvcc::ErrNoSpace() : absl::OkStatus();
    case cairnpb::LogRequest::kDeleteRange:
    case cairnpb::LogRequest::kCompaction:
    case cairnpb::LogRequest::kLeaseRevoke:
      return (active_mask & kCorrupt) ? ErrCorrupt() : absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

etcdserverpb::AlarmRequest AlarmActivation(uint64_t member, etcdserverpb::AlarmType type) {
  etcdserverpb::AlarmRequest request;
  request.set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  request.set_memberid(member);
  request.set_alarm(type);
  return request;
}

std::string AlarmStatusText(const etcdserverpb::AlarmMember& alarm) {
  // The text form etcd prints (gogoproto's String()), which leaves out every zero field: member
  // 0 (an alarm raised for the whole cluster) as well as type NONE.
  std::string text;
  if (alarm.memberid() != 0) absl::StrAppend(&text, "memberID:", alarm.memberid(), " ");
  if (alarm.alarm() != etcdserverpb::NONE) absl::StrAppend(&text, "alarm:", etcdserverpb::AlarmType_Name(alarm.alarm()), " ");
  return text;
}

}  // namespace cairn::server
