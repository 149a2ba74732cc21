// endpoint health|status|hashkv, member *, alarm *, defrag, move-leader, snapshot save|status|restore.
// snapshot status/restore work on files only; their logic is the server's (server/restore.h).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/restore.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/json_writer.h"
#include "tools/ctl/table.h"

namespace cairn::ctl {
namespace {

std::string ErrText(const absl::Status& s) { return std::string(s.message()); }

// --cluster: every client URL of every member; otherwise --endpoints as given.
std::vector<std::string> TargetEndpoints(Invocation& inv) {
  if (!inv.flags->GetBool("cluster")) return inv.client_config.endpoints;
  auto resp = inv.client().MemberList(etcdserverpb::MemberListRequest());
  if (!resp.ok()) {
    Fail(kExitError, "failed to fetch endpoints from etcd cluster member list: " + ErrText(resp.status()));
  }
  std::vector<std::string> out;
  for (const auto& m : resp->members()) {
    for (const auto& u : m.clienturls()) out.push_back(u);
  }
  return out;
}

// Connects to exactly one endpoint with the user's settings; an unreachable endpoint is
// reported for that endpoint alone, as etcdctl does.
absl::StatusOr<std::unique_ptr<Client>> ConnectOne(const Invocation& inv, const std::string& ep) {
  ClientConfig cfg = inv.client_config;
  cfg.endpoints = {ep};
  return Client::Connect(cfg);
}

int RunEndpointHealth(Invocation& inv) {
  std::vector<std::string> eps = TargetEndpoints(inv);
  std::vector<EndpointHealthRow> rows;
  std::mutex mu;
  std::vector<std::thread> workers;
  for (const auto& ep : eps) {
    workers.emplace_back([&, ep] {
      EndpointHealthRow row;
      row.endpoint = ep;
      auto start = std::chrono::steady_clock::now();
      auto client = ConnectOne(inv, ep);
      if (client.ok()) {
        etcdserverpb::RangeRequest req;
        req.set_key("health");
        auto resp = (*client)->Range(req);
        // Permission denied still proves the request went through consensus.
        if (resp.ok() || resp.status().message() == "etcdserver: permission denied") {
          row.health = true;
        } else {
          row.error = ErrText(resp.status());
        }
      } else {
        row.error = ErrText(client.status());
      }
      row.took = GoDurationString(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::steady_clock::now() - start).count());
      std::lock_guard<std::mutex> l(mu);
      rows.push_back(row);
    });
  }
  for (auto& w : workers) w.join();
  bool errors = false;
  for (const auto& r : rows) errors = errors || !r.error.empty();
  CheckPrinted(inv.printer->EndpointHealth(rows));
  if (errors) Fail(kExitError, "unhealthy cluster");
  return kExitSuccess;
}

int RunEndpointStatus(Invocation& inv) {
  std::vector<std::string> eps = TargetEndpoints(inv);
  std::vector<EndpointStatusRow> rows;
  bool failed = false;
  for (const auto& ep : eps) {
    auto one = ConnectOne(inv, ep);
    absl::StatusOr<etcdserverpb::StatusResponse> resp =
        one.ok() ? (*one)->Status(etcdserverpb::StatusRequest()) : one.status();
    if (!resp.ok()) {
      failed = true;
      ErrOut("Failed to get the status of endpoint " + ep + " (" + ErrText(resp.status()) + ")\n");
      continue;
    }
    rows.push_back({ep, *resp});
  }
  CheckPrinted(inv.printer->EndpointStatus(rows));
  return failed ? kExitError : kExitSuccess;
}

int RunEndpointHashKV(Invocation& inv) {
  std::vector<std::string> eps = TargetEndpoints(inv);
  std::vector<EndpointHashKVRow> rows;
  absl::Status last;
  for (const auto& ep : eps) {
    etcdserverpb::HashKVRequest req;
    req.set_revision(inv.flags->GetInt64("rev"));
    auto one = ConnectOne(inv, ep);
    absl::StatusOr<etcdserverpb::HashKVResponse> resp = one.ok() ? (*one)->HashKV(req) : one.status();
    if (!resp.ok()) {
      last = resp.status();
      ErrOut("Failed to get the hash of endpoint " + ep + " (" + ErrText(resp.status()) + ")\n");
      continue;
    }
    rows.push_back({ep, *resp});
  }
  CheckPrinted(inv.printer->EndpointHashKV(rows));
  if (!last.ok()) Fail(kExitError, ErrText(last));
  return kExitSuccess;
}

uint64_t ParseMemberId(const std::string& text) {
  uint64_t id;
  if (!absl::SimpleHexAtoi(text, &id) || text.find_first_of("xX") != std::string::npos) {
    Fail(kExitBadArgs, "bad member ID arg (strconv.ParseUint: parsing " + GoQuote(text) +
                           ": invalid syntax), expecting ID in Hex");
  }
  return id;
}

int RunMemberList(Invocation& inv) {
  auto resp = inv.client().MemberList(etcdserverpb::MemberListRequest());
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MemberList(*resp));
  return kExitSuccess;
}

int RunMemberAdd(Invocation& inv) {
  if (inv.args.empty()) Fail(kExitBadArgs, "member name not provided");
  if (inv.args.size() > 1) {
    std::string ev = "too many arguments";
    for (const auto& s : inv.args) {
      if (s.rfind("http", 0) == 0 || s.rfind("HTTP", 0) == 0) ev += ", did you mean --peer-urls=" + s;
    }
    Fail(kExitBadArgs, ev);
  }
  std::string name = inv.args[0];
  std::string urls = inv.flags->GetString("peer-urls");
  if (urls.empty()) Fail(kExitBadArgs, "member peer urls not provided");
  etcdserverpb::MemberAddRequest req;
  for (auto u : absl::StrSplit(urls, ',')) req.add_peerurls(std::string(u));
  req.set_islearner(inv.flags->GetBool("learner"));
  auto resp = inv.client().MemberAdd(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MemberAdd(*resp));
  if (inv.printer->format() == OutputFormat::kSimple) {
    std::vector<std::string> conf;
    for (const auto& m : resp->members()) {
      for (const auto& u : m.peerurls()) {
        conf.push_back((m.id() == resp->member().id() ? name : m.name()) + "=" + u);
      }
    }
    Out("\nETCD_NAME=" + GoQuote(name) + "\nETCD_INITIAL_CLUSTER=" + GoQuote(absl::StrJoin(conf, ",")) +
        "\nETCD_INITIAL_ADVERTISE_PEER_URLS=" + GoQuote(urls) + "\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
  }
  return kExitSuccess;
}

int RunMemberRemove(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "member ID is not provided");
  uint64_t id = ParseMemberId(inv.args[0]);
  etcdserverpb::MemberRemoveRequest req;
  req.set_id(id);
  auto resp = inv.client().MemberRemove(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MemberRemove(id, *resp));
  return kExitSuccess;
}

int RunMemberUpdate(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "member ID is not provided");
  uint64_t id = ParseMemberId(inv.args[0]);
  std::string urls = inv.flags->GetString("peer-urls");
  if (urls.empty()) Fail(kExitBadArgs, "member peer urls not provided");
  etcdserverpb::MemberUpdateRequest req;
  req.set_id(id);
  for (auto u : absl::StrSplit(urls, ',')) req.add_peerurls(std::string(u));
  auto resp = inv.client().MemberUpdate(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MemberUpdate(id, *resp));
  return kExitSuccess;
}

int RunMemberPromote(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "member ID is not provided");
  uint64_t id = ParseMemberId(inv.args[0]);
  etcdserverpb::MemberPromoteRequest req;
  req.set_id(id);
  auto resp = inv.client().MemberPromote(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MemberPromote(id, *resp));
  return kExitSuccess;
}

int RunAlarmList(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "alarm list command accepts no arguments");
  etcdserverpb::AlarmRequest req;
  req.set_action(etcdserverpb::AlarmRequest::GET);
  auto resp = inv.client().Alarm(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->Alarm(*resp));
  return kExitSuccess;
}

int RunAlarmDisarm(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "alarm disarm command accepts no arguments");
  // Like clientv3: list the alarms, then deactivate each one; the answer carries only the
  // deactivated alarms (no header).
  etcdserverpb::AlarmRequest list;
  list.set_action(etcdserverpb::AlarmRequest::GET);
  auto listed = inv.client().Alarm(list);
  if (!listed.ok()) Fail(kExitError, ErrText(listed.status()));
  etcdserverpb::AlarmResponse combined;
  for (const auto& a : listed->alarms()) {
    etcdserverpb::AlarmRequest req;
    req.set_action(etcdserverpb::AlarmRequest::DEACTIVATE);
    req.set_memberid(a.memberid());
    req.set_alarm(a.alarm());
    auto resp = inv.client().Alarm(req);
    if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
    for (const auto& d : resp->alarms()) *combined.add_alarms() = d;
  }
  CheckPrinted(inv.printer->Alarm(combined));
  return kExitSuccess;
}

int RunDefrag(Invocation& inv) {
  if (!inv.flags->GetString("data-dir").empty()) {
    ErrOut("Failed to defragment etcd data[" + inv.flags->GetString("data-dir") +
           "] (offline defragmentation of a data directory is not supported by cairnctl)\n");
    return kExitError;
  }
  std::vector<std::string> eps = TargetEndpoints(inv);
  int failures = 0;
  for (const auto& ep : eps) {
    auto one = ConnectOne(inv, ep);
    absl::StatusOr<etcdserverpb::DefragmentResponse> resp =
        one.ok() ? (*one)->Defragment(etcdserverpb::DefragmentRequest()) : one.status();
    if (!resp.ok()) {
      ErrOut("Failed to defragment etcd member[" + ep + "] (" + ErrText(resp.status()) + ")\n");
      ++failures;
    } else {
      Out("Finished defragmenting etcd member[" + ep + "]\n");
    }
  }
  return failures ? kExitError : kExitSuccess;
}

int RunMoveLeader(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "move-leader command needs 1 argument");
  uint64_t target;
  if (!absl::SimpleHexAtoi(inv.args[0], &target) || inv.args[0].find_first_of("xX") != std::string::npos) {
    Fail(kExitBadArgs, "strconv.ParseUint: parsing " + GoQuote(inv.args[0]) + ": invalid syntax");
  }
  Client& base = inv.client();
  std::unique_ptr<Client> leader;
  uint64_t leader_id = 0;
  for (const auto& ep : base.Endpoints()) {
    auto one = base.ForEndpoint(ep);
    if (!one.ok()) Fail(kExitError, ErrText(one.status()));
    auto st = (*one)->Status(etcdserverpb::StatusRequest());
    if (!st.ok()) Fail(kExitError, ErrText(st.status()));
    if (st->header().member_id() == st->leader()) {
      leader = std::move(*one);
      leader_id = st->leader();
      break;
    }
  }
  if (!leader) Fail(kExitBadArgs, "no leader endpoint given at [" + absl::StrJoin(base.Endpoints(), " ") + "]");
  etcdserverpb::MoveLeaderRequest req;
  req.set_targetid(target);
  auto resp = leader->MoveLeader(req);
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  CheckPrinted(inv.printer->MoveLeader(leader_id, target, *resp));
  return kExitSuccess;
}

int RunSnapshotSave(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "snapshot save expects one argument");
  if (inv.client_config.endpoints.size() != 1) {
    Fail(kExitBadArgs, "snapshot must be requested to one selected node, not multiple [" +
                           absl::StrJoin(inv.client_config.endpoints, " ") + "]");
  }
  const std::string path = inv.args[0];
  const std::string part = path + ".part";
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) Fail(kExitError, "could not open " + part + " (" + std::string(strerror(errno)) + ")");
  bool write_ok = true;
  absl::Status st = inv.client().Snapshot([&](const std::string& blob) {
    size_t off = 0;
    while (off < blob.size()) {
      ssize_t n = ::write(fd, blob.data() + off, blob.size() - off);
      if (n <= 0) {
        write_ok = false;
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  });
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!st.ok() || !write_ok || !synced) {
    ::unlink(part.c_str());
    Fail(kExitInterrupted, st.ok() ? "could not write " + part : ErrText(st));
  }
  if (::rename(part.c_str(), path.c_str()) != 0) {
    Fail(kExitInterrupted, "could not rename " + part + " to " + path);
  }
  Out("Snapshot saved at " + path + "\n");
  return kExitSuccess;
}

int RunSnapshotStatus(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "snapshot status requires exactly one argument");
  auto status = server::ReadSnapshotStatus(inv.args[0]);
  if (!status.ok()) Fail(kExitError, ErrText(status.status()));
  const std::vector<std::string> row = {HexPlain(status->hash), std::to_string(status->revision),
                                        std::to_string(status->total_keys),
                                        HumanizeBytes(static_cast<uint64_t>(status->total_size))};
  switch (inv.printer->format()) {
    case OutputFormat::kSimple:
      Out(absl::StrJoin(row, ", ") + "\n");
      break;
    case OutputFormat::kTable:
      Out(RenderTable({"hash", "revision", "total keys", "total size"}, {row}));
      break;
    case OutputFormat::kJson:
      Out(absl::StrCat("{\"hash\":", status->hash, ",\"revision\":", status->revision, ",\"totalKey\":",
                       status->total_keys, ",\"totalSize\":", status->total_size, "}\n"));
      break;
    case OutputFormat::kFields:
      Out(absl::StrCat("\"Hash\" : ", status->hash, "\n\"Revision\" : ", status->revision, "\n\"Keys\" : ",
                       status->total_keys, "\n\"Size\" : ", status->total_size, "\n"));
      break;
    default:
      CheckPrinted(absl::InvalidArgumentError("unsupported output format"));
  }
  return kExitSuccess;
}

int RunSnapshotRestore(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "snapshot restore requires exactly one argument");
  server::RestoreOptions options;
  options.snapshot_path = inv.args[0];
  options.name = inv.flags->GetString("name");
  options.data_dir = inv.flags->GetString("data-dir");
  options.initial_cluster = inv.flags->GetString("initial-cluster");
  options.initial_cluster_token = inv.flags->GetString("initial-cluster-token");
  options.initial_advertise_peer_urls = inv.flags->GetString("initial-advertise-peer-urls");
  options.skip_hash_check = inv.flags->GetBool("skip-hash-check");
  options.wal_dir = inv.flags->GetString("wal-dir");
  const std::string data_dir = server::RestoreDataDir(options);
  if (auto s = server::RestoreSnapshot(options); !s.ok()) Fail(kExitError, ErrText(s));
  const std::string log_in = options.wal_dir.empty() ? "" : ", log in " + options.wal_dir;
  const std::string wal_flag = options.wal_dir.empty() ? "" : " --wal-dir " + options.wal_dir;
  Out("Restored snapshot " + options.snapshot_path + " into " + data_dir + log_in + " (member " + options.name +
      "); start cairnd with --data-dir " + data_dir + wal_flag + " and the same --name and --initial-* flags\n");
  return kExitSuccess;
}

}  // namespace

void AddMaintenanceCommands(std::vector<CommandDef>* out) {
  FlagSpec cluster{"cluster", "", FlagKind::kBool, "false"};
  out->push_back({"endpoint health", "endpoint health [--cluster]", {cluster}, RunEndpointHealth});
  out->push_back({"endpoint status", "endpoint status [--cluster]", {cluster}, RunEndpointStatus});
  out->push_back({"endpoint hashkv", "endpoint hashkv [--cluster] [--rev N]",
                  {cluster, {"rev", "", FlagKind::kInt64, "0"}}, RunEndpointHashKV});
  FlagSpec peer_urls{"peer-urls", "", FlagKind::kString, ""};
  out->push_back({"member list", "member list", {}, RunMemberList});
  out->push_back({"member add", "member add <memberName> --peer-urls=<urls> [--learner]",
                  {peer_urls, {"learner", "", FlagKind::kBool, "false"}}, RunMemberAdd});
  out->push_back({"member remove", "member remove <memberID>", {}, RunMemberRemove});
  out->push_back({"member update", "member update <memberID> --peer-urls=<urls>", {peer_urls}, RunMemberUpdate});
  out->push_back({"member promote", "member promote <memberID>", {}, RunMemberPromote});
  out->push_back({"alarm list", "alarm list", {}, RunAlarmList});
  out->push_back({"alarm disarm", "alarm disarm", {}, RunAlarmDisarm});
  out->push_back({"defrag", "defrag [--cluster]", {cluster, {"data-dir", "", FlagKind::kString, ""}}, RunDefrag});
  out->push_back({"move-leader", "move-leader <transferee-member-id>", {}, RunMoveLeader});
  out->push_back({"snapshot save", "snapshot save <filename>", {}, RunSnapshotSave});
  out->push_back({"snapshot status", "snapshot status <filename>", {}, RunSnapshotStatus});
  // etcdctl 3.4's flags and defaults, except the data dir ("<name>.cairn", cairnd's default) and
  // --initial-cluster, which defaults to this member alone whatever --name is.
  out->push_back({"snapshot restore",
                  "snapshot restore <filename> [--data-dir DIR] [--wal-dir DIR] [--name NAME] [--initial-cluster C] "
                  "[--initial-cluster-token T] [--initial-advertise-peer-urls URLS] [--skip-hash-check]",
                  {{"data-dir", "", FlagKind::kString, ""},
                   {"wal-dir", "", FlagKind::kString, ""},
                   {"name", "", FlagKind::kString, "default"},
                   {"initial-cluster", "", FlagKind::kString, ""},  // empty: <name>=<first peer URL>
                   {"initial-cluster-token", "", FlagKind::kString, "etcd-cluster"},
                   {"initial-advertise-peer-urls", "", FlagKind::kString, "http://localhost:2380"},
                   {"skip-hash-check", "", FlagKind::kBool, "false"}},
                  RunSnapshotRestore});
}

}  // namespace cairn::ctl
