// The cluster's alarms (etcd's NOSPACE and CORRUPT): a set of (member ID, alarm type) that changes
// only through the replicated log (Maintenance.Alarm ACTIVATE / DEACTIVATE), is stored in the same
// store transaction as the entries that change it (meta record "alarms"), travels with store
// images, and is therefore the same on every member at the same applied index.
//
// While any member's NOSPACE alarm is in the set, every member refuses puts, txns that put and
// lease grants (ErrNoSpace); while a CORRUPT alarm is, every write through the log (ErrCorrupt).
// The write pipeline applies that rule to each entry at apply time (so it is the same everywhere)
// and the services apply it again before proposing (so a refused write costs no log entry).
//
// This file holds the set (a value type: not thread-safe, copy it to share), its encoding, the
// apply rule for an AlarmRequest, and the write gate. Who owns the live set and publishes it to
// other threads: WritePipeline (ActiveAlarms(), Alarms()).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::server {

// DataLoss "etcdserver: corrupt cluster": etcd's answer to writes while a CORRUPT alarm is active.
absl::Status ErrCorrupt();

// Bit of each alarm type in a mask of active types (AlarmSet::ActiveMask): bit (1 << type).
inline constexpr uint32_t AlarmBit(etcdserverpb::AlarmType type) { return uint32_t{1} << static_cast<int>(type); }

class AlarmSet {
 public:
  // "" (never written) decodes to the empty set. DataLoss if the record does not decode.
  static absl::StatusOr<AlarmSet> Decode(absl::string_view record);
  std::string Encode() const;

  // Adds (member, type). True if it was not there yet (false: already raised, nothing changes).
  bool Activate(uint64_t member, etcdserverpb::AlarmType type);
  // Removes (member, type). True if it was there.
  bool Deactivate(uint64_t member, etcdserverpb::AlarmType type);
  bool Contains(uint64_t member, etcdserverpb::AlarmType type) const;
  // Every alarm (type NONE), or those of one type; sorted by type, then member ID.
  std::vector<etcdserverpb::AlarmMember> Get(etcdserverpb::AlarmType type) const;
  bool empty() const { return entries_.empty(); }
  // AlarmBit of every type with at least one alarm (NONE included if someone raised it).
  uint32_t ActiveMask() const;

  bool operator==(const AlarmSet& other) const { return entries_ == other.entries_; }

 private:
  std::vector<std::pair<int, uint64_t>> entries_;  // (type, member), sorted, unique
};

// Applies one Maintenance.Alarm request to `set` as etcd's apply does, filling response->alarms:
// ACTIVATE adds (memberID, alarm) and answers it (also when already present); DEACTIVATE removes it
// and answers it if it was there (else nothing); GET answers every alarm, or those of `alarm`'s
// type when it is not NONE (memberID ignored). Returns true when the set changed.
bool ApplyAlarmRequest(const etcdserverpb::AlarmRequest& request, AlarmSet* set,
                       etcdserverpb::AlarmResponse* response);

// What the active alarms (`active_mask`, from ActiveMask) refuse of a logged request: with CORRUPT,
// puts, deletes, txns that put or delete, compactions, lease grants and revokes get ErrCorrupt
// (etcd serves read-only txns outside its log, so they pass); with NOSPACE, puts,
// txns containing a put (either branch, any depth) and lease grants get mvcc::ErrNoSpace. Alarm,
// auth, membership and lease checkpoint requests always pass, so alarms can be cleared. O(1) when
// `active_mask` is 0.
absl::Status AlarmGate(uint32_t active_mask, const cairnpb::LogRequest& request);

// The request that raises `type` for `member` (what a member proposes when it finds itself out of
// space, or the leader when it finds a member's store diverged).
etcdserverpb::AlarmRequest AlarmActivation(uint64_t member, etcdserverpb::AlarmType type);

// Maintenance.Status `errors` entries and /health reasons for the set.
// "memberID:<id> alarm:<TYPE> ", each part left out when zero, as etcd prints it.
std::string AlarmStatusText(const etcdserverpb::AlarmMember& alarm);

}  // namespace cairn::server
