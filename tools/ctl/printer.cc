#include "tools/ctl/printer.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/json_writer.h"
#include "tools/ctl/table.h"

namespace cairn::ctl {
namespace {

using namespace etcdserverpb;  // NOLINT: the printer mentions most response types

const char* FormatName(OutputFormat f) {
  switch (f) {
    case OutputFormat::kSimple: return "simple";
    case OutputFormat::kJson: return "json";
    case OutputFormat::kFields: return "fields";
    case OutputFormat::kTable: return "table";
    case OutputFormat::kProtobuf: return "protobuf";
  }
  return "?";
}

std::string Bool(bool b) { return b ? "true" : "false"; }

// Go prints a nil *ResponseHeader embedded in a struct as nothing at all, and an empty one
// as its omitempty members; both come out as the members text.
std::string HeaderMembers(const google::protobuf::Message& parent, const ResponseHeader& h, bool has_header) {
  return has_header ? MessageJsonMembers(h) : "";
}

std::vector<std::string> MemberRow(const Member& m) {
  return {HexPlain(m.id()),
          m.name().empty() ? "unstarted" : "started",
          m.name(),
          absl::StrJoin(m.peerurls(), ","),
          absl::StrJoin(m.clienturls(), ","),
          m.islearner() ? "true" : "false"};
}

const std::vector<std::string> kMemberHeader = {"ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"};
const std::vector<std::string> kHealthHeader = {"endpoint", "health", "took", "error"};
const std::vector<std::string> kStatusHeader = {"endpoint", "ID", "version", "db size", "is leader",
                                                "is learner", "raft term", "raft index",
                                                "raft applied index", "errors"};
const std::vector<std::string> kHashHeader = {"endpoint", "hash"};

std::vector<std::string> StatusRow(const EndpointStatusRow& s) {
  const auto& r = s.status;
  return {s.endpoint,
          HexPlain(r.header().member_id()),
          r.version(),
          HumanizeBytes(static_cast<uint64_t>(r.dbsize())),
          Bool(r.leader() == r.header().member_id()),
          Bool(r.islearner()),
          absl::StrCat(r.raftterm()),
          absl::StrCat(r.raftindex()),
          absl::StrCat(r.raftappliedindex()),
          absl::StrJoin(r.errors(), ", ")};
}

// clientv3.GetPrefixRangeEnd
std::string PrefixEnd(const std::string& key) {
  std::string end = key;
  for (int i = static_cast<int>(end.size()) - 1; i >= 0; --i) {
    if (static_cast<unsigned char>(end[i]) < 0xff) {
      end[i] = static_cast<char>(static_cast<unsigned char>(end[i]) + 1);
      return end.substr(0, i + 1);
    }
  }
  return std::string(1, '\0');
}

std::string GoSlice(const google::protobuf::RepeatedPtrField<std::string>& v) {
  return "[" + absl::StrJoin(v, " ") + "]";
}

}  // namespace

void Out(const std::string& text) { fwrite(text.data(), 1, text.size(), stdout); }
void ErrOut(const std::string& text) {
  fflush(stdout);
  fwrite(text.data(), 1, text.size(), stderr);
}

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "simple") return OutputFormat::kSimple;
  if (name == "json") return OutputFormat::kJson;
  if (name == "fields") return OutputFormat::kFields;
  if (name == "table") return OutputFormat::kTable;
  if (name == "protobuf") return OutputFormat::kProtobuf;
  return absl::InvalidArgumentError("unsupported output format");
}

absl::Status Printer::Unsupported() const {
  return absl::FailedPreconditionError(absl::StrCat(FormatName(format_), " not supported as output format"));
}

bool Printer::RawMessage(const google::protobuf::Message& m, absl::Status* st) {
  if (format_ == OutputFormat::kJson) {
    Out(MessageJson(m) + "\n");
    *st = absl::OkStatus();
    return true;
  }
  if (format_ == OutputFormat::kProtobuf) {
    Out(m.SerializeAsString());
    *st = absl::OkStatus();
    return true;
  }
  return false;
}

void Printer::PrintKv(const mvccpb::KeyValue& kv) {
  std::string k = kv.key(), v = kv.value();
  if (hex_) {
    k = HexEscaped(k);
    v = HexEscaped(v);
  }
  if (!value_only_) Out(k + "\n");
  Out(v + "\n");
}

void Printer::FieldsHeader(const ResponseHeader& h) {
  Out(absl::StrCat("\"ClusterID\" : ", h.cluster_id(), "\n\"MemberID\" : ", h.member_id(),
                   "\n\"Revision\" : ", h.revision(), "\n\"RaftTerm\" : ", h.raft_term(), "\n"));
}

void Printer::FieldsKv(const std::string& p, const mvccpb::KeyValue& kv) {
  Out(absl::StrCat("\"", p, "Key\" : ", GoQuote(kv.key()), "\n", "\"", p, "CreateRevision\" : ",
                   kv.create_revision(), "\n", "\"", p, "ModRevision\" : ", kv.mod_revision(), "\n",
                   "\"", p, "Version\" : ", kv.version(), "\n", "\"", p, "Value\" : ", GoQuote(kv.value()),
                   "\n", "\"", p, "Lease\" : ", kv.lease(), "\n"));
}

void Printer::SimpleGet(const RangeResponse& r) {
  for (const auto& kv : r.kvs()) PrintKv(kv);
}
void Printer::SimplePut(const PutResponse& r) {
  Out("OK\n");
  if (r.has_prev_kv()) PrintKv(r.prev_kv());
}
void Printer::SimpleDel(const DeleteRangeResponse& r) {
  Out(absl::StrCat(r.deleted(), "\n"));
  for (const auto& kv : r.prev_kvs()) PrintKv(kv);
}
void Printer::FieldsGet(const RangeResponse& r) {
  FieldsHeader(r.header());
  for (const auto& kv : r.kvs()) FieldsKv("", kv);
  Out(absl::StrCat("\"More\" : ", Bool(r.more()), "\n\"Count\" : ", r.count(), "\n"));
}
void Printer::FieldsPut(const PutResponse& r) {
  FieldsHeader(r.header());
  if (r.has_prev_kv()) FieldsKv("Prev", r.prev_kv());
}
void Printer::FieldsDel(const DeleteRangeResponse& r) {
  FieldsHeader(r.header());
  Out(absl::StrCat("\"Deleted\" : ", r.deleted(), "\n"));
  for (const auto& kv : r.prev_kvs()) FieldsKv("Prev", kv);
}

template <typename Response>
absl::Status Printer::SimpleOrFields(const Response& r, void (Printer::*simple)(const Response&),
                                     void (Printer::*fields)(const Response&)) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ == OutputFormat::kSimple) (this->*simple)(r);
  else if (format_ == OutputFormat::kFields) (this->*fields)(r);
  else return Unsupported();
  return absl::OkStatus();
}

absl::Status Printer::Get(const RangeResponse& r) { return SimpleOrFields(r, &Printer::SimpleGet, &Printer::FieldsGet); }
absl::Status Printer::Put(const PutResponse& r) { return SimpleOrFields(r, &Printer::SimplePut, &Printer::FieldsPut); }
absl::Status Printer::Del(const DeleteRangeResponse& r) {
  return SimpleOrFields(r, &Printer::SimpleDel, &Printer::FieldsDel);
}

absl::Status Printer::Txn(const TxnResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ == OutputFormat::kSimple) {
    Out(r.succeeded() ? "SUCCESS\n" : "FAILURE\n");
    for (const auto& op : r.responses()) {
      Out("\n");
      if (op.has_response_delete_range()) SimpleDel(op.response_delete_range());
      else if (op.has_response_put()) SimplePut(op.response_put());
      else if (op.has_response_range()) SimpleGet(op.response_range());
      else Out("unexpected response\n");
    }
  } else if (format_ == OutputFormat::kFields) {
    FieldsHeader(r.header());
    Out(absl::StrCat("\"Succeeded\" : ", Bool(r.succeeded()), "\n"));
    for (const auto& op : r.responses()) {
      if (op.has_response_delete_range()) FieldsDel(op.response_delete_range());
      else if (op.has_response_put()) FieldsPut(op.response_put());
      else if (op.has_response_range()) FieldsGet(op.response_range());
      else Out("\"Unknown\" : \"\"\n");
    }
  } else {
    return Unsupported();
  }
  return absl::OkStatus();
}

absl::Status Printer::Watch(const WatchResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& e : r.events()) {
        Out(e.type() == mvccpb::Event::DELETE ? "DELETE\n" : "PUT\n");
        if (e.has_prev_kv()) PrintKv(e.prev_kv());
        PrintKv(e.kv());
      }
      return absl::OkStatus();
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& e : r.events()) {
        Out(std::string("\"Type\" : ") + (e.type() == mvccpb::Event::DELETE ? "DELETE" : "PUT") + "\n");
        if (e.has_prev_kv()) FieldsKv("Prev", e.prev_kv());
        FieldsKv("", e.kv());
      }
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> events;
      for (const auto& e : r.events()) events.push_back(MessageJson(e));
      JsonObject o;
      o.Raw("Header", MessageJson(r.header()));
      o.Raw("Events", "[" + absl::StrJoin(events, ",") + "]");  // clientv3 always makes the slice
      o.Raw("CompactRevision", absl::StrCat(r.compact_revision()));
      o.Raw("Canceled", Bool(r.canceled()));
      o.Raw("Created", Bool(r.created()));
      Out(o.str() + "\n");
      return absl::OkStatus();
    }
    case OutputFormat::kProtobuf: {
      WatchResponse copy = r;
      copy.clear_watch_id();
      copy.clear_cancel_reason();
      copy.clear_fragment();
      Out(copy.SerializeAsString());
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::Grant(const LeaseGrantResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Out(absl::StrFormat("lease %016x granted with TTL(%ds)\n", static_cast<uint64_t>(r.id()), r.ttl()));
      return absl::OkStatus();
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Out(absl::StrCat("\"ID\" : ", r.id(), "\n\"TTL\" : ", r.ttl(), "\n"));
      return absl::OkStatus();
    case OutputFormat::kJson: {
      JsonObject o;
      o.Members(HeaderMembers(r, r.header(), r.has_header()));
      o.Raw("ID", absl::StrCat(r.id())).Raw("TTL", absl::StrCat(r.ttl())).Raw("Error", JsonString(r.error()));
      Out(o.str() + "\n");
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::Revoke(int64_t id, const LeaseRevokeResponse& r) {
  absl::Status st;
  if (format_ == OutputFormat::kJson) {
    Out(MessageJson(r) + "\n");
    return absl::OkStatus();
  }
  if (format_ == OutputFormat::kSimple) {
    Out(absl::StrFormat("lease %016x revoked\n", static_cast<uint64_t>(id)));
  } else if (format_ == OutputFormat::kFields) {
    FieldsHeader(r.header());
  } else {
    return Unsupported();
  }
  return absl::OkStatus();
}

absl::Status Printer::KeepAlive(const LeaseKeepAliveResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Out(absl::StrFormat("lease %016x keepalived with TTL(%d)\n", static_cast<uint64_t>(r.id()), r.ttl()));
      return absl::OkStatus();
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Out(absl::StrCat("\"ID\" : ", r.id(), "\n\"TTL\" : ", r.ttl(), "\n"));
      return absl::OkStatus();
    case OutputFormat::kJson: {
      JsonObject o;
      o.Members(HeaderMembers(r, r.header(), r.has_header()));
      o.Raw("ID", absl::StrCat(r.id())).Raw("TTL", absl::StrCat(r.ttl()));
      Out(o.str() + "\n");
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::TimeToLive(const LeaseTimeToLiveResponse& r, bool keys) {
  switch (format_) {
    case OutputFormat::kSimple: {
      if (r.grantedttl() == 0 && r.ttl() == -1) {
        Out(absl::StrFormat("lease %016x already expired\n", static_cast<uint64_t>(r.id())));
        return absl::OkStatus();
      }
      std::string txt = absl::StrFormat("lease %016x granted with TTL(%ds), remaining(%ds)",
                                        static_cast<uint64_t>(r.id()), r.grantedttl(), r.ttl());
      if (keys) txt += ", attached keys([" + absl::StrJoin(r.keys(), " ") + "])";
      Out(txt + "\n");
      return absl::OkStatus();
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Out(absl::StrCat("\"ID\" : ", r.id(), "\n\"TTL\" : ", r.ttl(), "\n\"GrantedTTL\" : ", r.grantedttl(), "\n"));
      for (const auto& k : r.keys()) Out("\"Key\" : " + GoQuote(k) + "\n");
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> ks;
      for (const auto& k : r.keys()) ks.push_back("\"" + Base64(k) + "\"");
      JsonObject o;
      o.Members(HeaderMembers(r, r.header(), r.has_header()));
      o.Raw("id", absl::StrCat(r.id())).Raw("ttl", absl::StrCat(r.ttl()));
      o.Raw("granted-ttl", absl::StrCat(r.grantedttl()));
      o.Raw("keys", ks.empty() ? "null" : "[" + absl::StrJoin(ks, ",") + "]");
      Out(o.str() + "\n");
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::Leases(const LeaseLeasesResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Out(absl::StrFormat("found %d leases\n", r.leases_size()));
      for (const auto& l : r.leases()) Out(absl::StrFormat("%016x\n", static_cast<uint64_t>(l.id())));
      return absl::OkStatus();
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& l : r.leases()) Out(absl::StrCat("\"ID\" : ", l.id(), "\n"));
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> ls;
      for (const auto& l : r.leases()) ls.push_back(absl::StrCat("{\"id\":", l.id(), "}"));
      JsonObject o;
      o.Members(HeaderMembers(r, r.header(), r.has_header()));
      o.Raw("leases", "[" + absl::StrJoin(ls, ",") + "]");
      Out(o.str() + "\n");
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::MemberAdd(const MemberAddResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  Out(absl::StrFormat("Member %16x added to cluster %16x\n", r.member().id(), r.header().cluster_id()));
  return absl::OkStatus();
}

absl::Status Printer::MemberRemove(uint64_t id, const MemberRemoveResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  Out(absl::StrFormat("Member %16x removed from cluster %16x\n", id, r.header().cluster_id()));
  return absl::OkStatus();
}

absl::Status Printer::MemberUpdate(uint64_t id, const MemberUpdateResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  Out(absl::StrFormat("Member %16x updated in cluster %16x\n", id, r.header().cluster_id()));
  return absl::OkStatus();
}

absl::Status Printer::MemberPromote(uint64_t id, const MemberPromoteResponse& r) {
  if (format_ != OutputFormat::kSimple) return Unsupported();
  Out(absl::StrFormat("Member %16x promoted in cluster %16x\n", id, r.header().cluster_id()));
  return absl::OkStatus();
}

absl::Status Printer::MemberList(const MemberListResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : r.members()) rows.push_back(MemberRow(m));
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : rows) Out(absl::StrJoin(row, ", ") + "\n");
      return absl::OkStatus();
    case OutputFormat::kTable:
      Out(RenderTable(kMemberHeader, rows));
      return absl::OkStatus();
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& m : r.members()) {
        Out(absl::StrCat("\"ID\" : ", m.id(), "\n\"Name\" : ", GoQuote(m.name()), "\n"));
        for (const auto& u : m.peerurls()) Out("\"PeerURL\" : " + GoQuote(u) + "\n");
        for (const auto& u : m.clienturls()) Out("\"ClientURL\" : " + GoQuote(u) + "\n");
        Out("\"IsLearner\" : " + Bool(m.islearner()) + "\n\n");
      }
      return absl::OkStatus();
    default:
      return Unsupported();
  }
}

absl::Status Printer::EndpointHealth(const std::vector<EndpointHealthRow>& hs) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& h : hs) {
        if (h.error.empty()) {
          ErrOut(h.endpoint + " is healthy: successfully committed proposal: took = " + h.took + "\n");
        } else {
          ErrOut(h.endpoint + " is unhealthy: failed to commit proposal: " + h.error + "\n");
        }
      }
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& h : hs) {
        JsonObject o;
        o.Raw("endpoint", JsonString(h.endpoint)).Raw("health", Bool(h.health)).Raw("took", JsonString(h.took));
        if (!h.error.empty()) o.Raw("error", JsonString(h.error));
        items.push_back(o.str());
      }
      Out("[" + absl::StrJoin(items, ",") + "]\n");
      return absl::OkStatus();
    }
    case OutputFormat::kFields:
      for (const auto& h : hs) {
        Out("\"Endpoint\" : " + GoQuote(h.endpoint) + "\n\"Health\" : " + Bool(h.health) + "\n\"Took\" : " +
            h.took + "\n\"Error\" : " + h.error + "\n\n");
      }
      return absl::OkStatus();
    case OutputFormat::kTable: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& h : hs) rows.push_back({h.endpoint, Bool(h.health), h.took, h.error});
      Out(RenderTable(kHealthHeader, rows));
      return absl::OkStatus();
    }
    default:
      return Unsupported();
  }
}

absl::Status Printer::EndpointStatus(const std::vector<EndpointStatusRow>& ss) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : ss) rows.push_back(StatusRow(s));
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : rows) Out(absl::StrJoin(row, ", ") + "\n");
      return absl::OkStatus();
    case OutputFormat::kTable:
      Out(RenderTable(kStatusHeader, rows));
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& s : ss) {
        items.push_back(JsonObject().Raw("Endpoint", JsonString(s.endpoint)).Raw("Status", MessageJson(s.status)).str());
      }
      Out("[" + absl::StrJoin(items, ",") + "]\n");
      return absl::OkStatus();
    }
    case OutputFormat::kFields:
      for (const auto& s : ss) {
        const auto& r = s.status;
        FieldsHeader(r.header());
        Out(absl::StrCat("\"Version\" : ", GoQuote(r.version()), "\n\"DBSize\" : ", r.dbsize(),
                         "\n\"Leader\" : ", r.leader(), "\n\"IsLearner\" : ", Bool(r.islearner()),
                         "\n\"RaftIndex\" : ", r.raftindex(), "\n\"RaftTerm\" : ", r.raftterm(),
                         "\n\"RaftAppliedIndex\" : ", r.raftappliedindex(), "\n\"Errors\" : ",
                         GoSlice(r.errors()), "\n\"Endpoint\" : ", GoQuote(s.endpoint), "\n\n"));
      }
      return absl::OkStatus();
    default:
      return Unsupported();
  }
}

absl::Status Printer::EndpointHashKV(const std::vector<EndpointHashKVRow>& hs) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : hs) rows.push_back({h.endpoint, absl::StrCat(h.hash.hash())});
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : rows) Out(absl::StrJoin(row, ", ") + "\n");
      return absl::OkStatus();
    case OutputFormat::kTable:
      Out(RenderTable(kHashHeader, rows));
      return absl::OkStatus();
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& h : hs) {
        items.push_back(JsonObject().Raw("Endpoint", JsonString(h.endpoint)).Raw("HashKV", MessageJson(h.hash)).str());
      }
      Out("[" + absl::StrJoin(items, ",") + "]\n");
      return absl::OkStatus();
    }
    case OutputFormat::kFields:
      for (const auto& h : hs) {
        FieldsHeader(h.hash.header());
        Out(absl::StrCat("\"Endpoint\" : ", GoQuote(h.endpoint), "\n\"Hash\" : ", h.hash.hash(), "\n\n"));
      }
      return absl::OkStatus();
    default:
      return Unsupported();
  }
}

absl::Status Printer::MoveLeader(uint64_t leader, uint64_t target, const MoveLeaderResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  Out(absl::StrFormat("Leadership transferred from %x to %x\n", leader, target));
  return absl::OkStatus();
}

absl::Status Printer::Alarm(const AlarmResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ == OutputFormat::kSimple) {
    for (const auto& a : r.alarms()) {
      // Go's %+v of the message: its compact text form, every field followed by a space.
      std::string text;
      if (a.memberid() != 0) text += absl::StrCat("memberID:", a.memberid(), " ");
      if (a.alarm() != 0) text += "alarm:" + AlarmType_Name(a.alarm()) + " ";
      Out(text + "\n");
    }
  } else if (format_ == OutputFormat::kFields) {
    FieldsHeader(r.header());
    for (const auto& a : r.alarms()) {
      Out(absl::StrCat("\"MemberID\" : ", a.memberid(), "\n\"AlarmType\" : ", AlarmType_Name(a.alarm()), "\n\n"));
    }
  } else {
    return Unsupported();
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- auth

#define CAIRN_RAW_OR_FIELDS(r)                          \
  do {                                                   \
    absl::Status st_;                                    \
    if (RawMessage(r, &st_)) return st_;                 \
    if (format_ == OutputFormat::kFields) {              \
      FieldsHeader(r.header());                          \
      return absl::OkStatus();                           \
    }                                                    \
    if (format_ != OutputFormat::kSimple) return Unsupported(); \
  } while (0)

absl::Status Printer::RoleAdd(const std::string& role, const AuthRoleAddResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Role " + role + " created\n");
  return absl::OkStatus();
}

absl::Status Printer::RoleGet(const std::string& role, const AuthRoleGetResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ == OutputFormat::kFields) {
    FieldsHeader(r.header());
    for (const auto& p : r.perm()) {
      Out("\"PermType\" :  " + authpb::Permission::Type_Name(p.permtype()) + "\n\"Key\" : " + GoQuote(p.key()) +
          "\n\"RangeEnd\" : " + GoQuote(p.range_end()) + "\n");
    }
    return absl::OkStatus();
  }
  if (format_ != OutputFormat::kSimple) return Unsupported();
  auto print_range = [](const authpb::Permission& p) {
    std::string s;
    if (p.range_end() != std::string(1, '\0')) s = "\t[" + p.key() + ", " + p.range_end() + ")";
    else s = "\t[" + p.key() + ", <open ended>";
    if (PrefixEnd(p.key()) == p.range_end()) s += " (prefix " + p.key() + ")";
    return s + "\n";
  };
  std::string out = "Role " + role + "\nKV Read:\n";
  for (const auto& p : r.perm()) {
    if (p.permtype() == authpb::Permission::READ || p.permtype() == authpb::Permission::READWRITE) {
      out += p.range_end().empty() ? "\t" + p.key() + "\n" : print_range(p);
    }
  }
  out += "KV Write:\n";
  for (const auto& p : r.perm()) {
    if (p.permtype() == authpb::Permission::WRITE || p.permtype() == authpb::Permission::READWRITE) {
      out += p.range_end().empty() ? "\t" + p.key() + "\n" : print_range(p);
    }
  }
  Out(out);
  return absl::OkStatus();
}

absl::Status Printer::RoleDelete(const std::string& role, const AuthRoleDeleteResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Role " + role + " deleted\n");
  return absl::OkStatus();
}

absl::Status Printer::RoleList(const AuthRoleListResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ == OutputFormat::kFields) {
    FieldsHeader(r.header());
    std::string s = "\"Roles\" :";
    for (const auto& role : r.roles()) s += " " + GoQuote(role);
    Out(s + "\n");
    return absl::OkStatus();
  }
  if (format_ != OutputFormat::kSimple) return Unsupported();
  for (const auto& role : r.roles()) Out(role + "\n");
  return absl::OkStatus();
}

absl::Status Printer::RoleGrantPermission(const std::string& role, const AuthRoleGrantPermissionResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Role " + role + " updated\n");
  return absl::OkStatus();
}

absl::Status Printer::RoleRevokePermission(const std::string& role, const std::string& key,
                                           const std::string& end, const AuthRoleRevokePermissionResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  if (end.empty()) {
    Out("Permission of key " + key + " is revoked from role " + role + "\n");
  } else if (end != std::string(1, '\0')) {
    Out("Permission of range [" + key + ", " + end + ") is revoked from role " + role + "\n");
  } else {
    Out("Permission of range [" + key + ", <open ended> is revoked from role " + role + "\n");
  }
  return absl::OkStatus();
}

absl::Status Printer::UserAdd(const std::string& user, const AuthUserAddResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("User " + user + " created\n");
  return absl::OkStatus();
}

absl::Status Printer::UserGet(const std::string& user, const AuthUserGetResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  std::string s = "User: " + user + "\nRoles:";
  for (const auto& role : r.roles()) s += " " + role;
  Out(s + "\n");
  return absl::OkStatus();
}

absl::Status Printer::UserList(const AuthUserListResponse& r) {
  absl::Status st;
  if (RawMessage(r, &st)) return st;
  if (format_ != OutputFormat::kSimple) return Unsupported();
  for (const auto& u : r.users()) Out(u + "\n");
  return absl::OkStatus();
}

absl::Status Printer::UserChangePassword(const AuthUserChangePasswordResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Password updated\n");
  return absl::OkStatus();
}

absl::Status Printer::UserGrantRole(const std::string& user, const std::string& role, const AuthUserGrantRoleResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Role " + role + " is granted to user " + user + "\n");
  return absl::OkStatus();
}

absl::Status Printer::UserRevokeRole(const std::string& user, const std::string& role, const AuthUserRevokeRoleResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("Role " + role + " is revoked from user " + user + "\n");
  return absl::OkStatus();
}

absl::Status Printer::UserDelete(const std::string& user, const AuthUserDeleteResponse& r) {
  CAIRN_RAW_OR_FIELDS(r);
  Out("User " + user + " deleted\n");
  return absl::OkStatus();
}

}  // namespace cairn::ctl
