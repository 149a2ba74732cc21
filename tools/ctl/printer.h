// Output of every command in etcdctl 3.4's four formats (-w simple|json|fields|table, plus
// protobuf for raw responses). Each method prints one response to stdout (endpoint health's
// simple form goes to stderr, as etcdctl does) and returns
// FailedPrecondition("<format> not supported as output format") when etcdctl has no such
// form, which the caller turns into exit code 4.
// Not thread-safe: one Printer per process, used from one thread at a time.
#ifndef CAIRN_TOOLS_CTL_PRINTER_H_
#define CAIRN_TOOLS_CTL_PRINTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::ctl {

enum class OutputFormat { kSimple, kJson, kFields, kTable, kProtobuf };

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name);

struct EndpointHealthRow {
  std::string endpoint;
  bool health = false;
  std::string took;
  std::string error;
};
struct EndpointStatusRow {
  std::string endpoint;
  etcdserverpb::StatusResponse status;
};
struct EndpointHashKVRow {
  std::string endpoint;
  etcdserverpb::HashKVResponse hash;
};

class Printer {
 public:
  Printer(OutputFormat format, bool hex) : format_(format), hex_(hex) {}
  OutputFormat format() const { return format_; }
  void set_value_only(bool v) { value_only_ = v; }

  absl::Status Get(const etcdserverpb::RangeResponse& r);
  absl::Status Put(const etcdserverpb::PutResponse& r);
  absl::Status Del(const etcdserverpb::DeleteRangeResponse& r);
  absl::Status Txn(const etcdserverpb::TxnResponse& r);
  absl::Status Watch(const etcdserverpb::WatchResponse& r);

  absl::Status Grant(const etcdserverpb::LeaseGrantResponse& r);
  absl::Status Revoke(int64_t id, const etcdserverpb::LeaseRevokeResponse& r);
  absl::Status KeepAlive(const etcdserverpb::LeaseKeepAliveResponse& r);
  absl::Status TimeToLive(const etcdserverpb::LeaseTimeToLiveResponse& r, bool keys);
  absl::Status Leases(const etcdserverpb::LeaseLeasesResponse& r);

  absl::Status MemberAdd(const etcdserverpb::MemberAddResponse& r);
  absl::Status MemberRemove(uint64_t id, const etcdserverpb::MemberRemoveResponse& r);
  absl::Status MemberUpdate(uint64_t id, const etcdserverpb::MemberUpdateResponse& r);
  absl::Status MemberPromote(uint64_t id, const etcdserverpb::MemberPromoteResponse& r);
  absl::Status MemberList(const etcdserverpb::MemberListResponse& r);

  absl::Status EndpointHealth(const std::vector<EndpointHealthRow>& rows);
  absl::Status EndpointStatus(const std::vector<EndpointStatusRow>& rows);
  absl::Status EndpointHashKV(const std::vector<EndpointHashKVRow>& rows);
  absl::Status MoveLeader(uint64_t leader, uint64_t target, const etcdserverpb::MoveLeaderResponse& r);
  absl::Status Alarm(const etcdserverpb::AlarmResponse& r);

  absl::Status RoleAdd(const std::string& role, const etcdserverpb::AuthRoleAddResponse& r);
  absl::Status RoleGet(const std::string& role, const etcdserverpb::AuthRoleGetResponse& r);
  absl::Status RoleDelete(const std::string& role, const etcdserverpb::AuthRoleDeleteResponse& r);
  absl::Status RoleList(const etcdserverpb::AuthRoleListResponse& r);
  absl::Status RoleGrantPermission(const std::string& role, const etcdserverpb::AuthRoleGrantPermissionResponse& r);
  absl::Status RoleRevokePermission(const std::string& role, const std::string& key, const std::string& end,
                                    const etcdserverpb::AuthRoleRevokePermissionResponse& r);
  absl::Status UserAdd(const std::string& user, const etcdserverpb::AuthUserAddResponse& r);
  absl::Status UserGet(const std::string& user, const etcdserverpb::AuthUserGetResponse& r);
  absl::Status UserList(const etcdserverpb::AuthUserListResponse& r);
  absl::Status UserChangePassword(const etcdserverpb::AuthUserChangePasswordResponse& r);
  absl::Status UserGrantRole(const std::string& user, const std::string& role, const etcdserverpb::AuthUserGrantRoleResponse& r);
  absl::Status UserRevokeRole(const std::string& user, const std::string& role, const etcdserverpb::AuthUserRevokeRoleResponse& r);
  absl::Status UserDelete(const std::string& user, const etcdserverpb::AuthUserDeleteResponse& r);

 private:
  absl::Status Unsupported() const;
  // json/protobuf for responses etcdctl prints as the raw protobuf message; nullopt-like
  // false return means "not a raw format, keep going".
  bool RawMessage(const google::protobuf::Message& m, absl::Status* st);
  void PrintKv(const mvccpb::KeyValue& kv);
  void FieldsHeader(const etcdserverpb::ResponseHeader& h);
  void FieldsKv(const std::string& prefix, const mvccpb::KeyValue& kv);
  // Prints `r` raw (json/protobuf), or with `simple` / `fields`; other formats are unsupported.
  template <typename Response>
  absl::Status SimpleOrFields(const Response& r, void (Printer::*simple)(const Response&),
                              void (Printer::*fields)(const Response&));
  void SimpleGet(const etcdserverpb::RangeResponse& r);
  void SimplePut(const etcdserverpb::PutResponse& r);
  void SimpleDel(const etcdserverpb::DeleteRangeResponse& r);
  void FieldsGet(const etcdserverpb::RangeResponse& r);
  void FieldsPut(const etcdserverpb::PutResponse& r);
  void FieldsDel(const etcdserverpb::DeleteRangeResponse& r);

  OutputFormat format_;
  bool hex_;
  bool value_only_ = false;
};

// Writes text to stdout (or stderr) unbuffered by iostreams; safe to mix with fwrite.
void Out(const std::string& text);
void ErrOut(const std::string& text);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_PRINTER_H_
