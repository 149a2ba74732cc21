// Service discovery verbs beyond etcdctl: service register|list|watch|deregister.
// An instance is a key /services/<name>/<id> holding a JSON record, bound to a lease that
// `register` keeps alive; when the process dies the lease expires and the key goes away,
// which watchers see as a DELETE ("LEFT").
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/json_writer.h"
#include "tools/ctl/service_record.h"
#include "tools/ctl/table.h"
#include "tools/ctl/watcher.h"

namespace cairn::ctl {
namespace {

std::string ErrText(const absl::Status& s) { return std::string(s.message()); }

void CheckPathPart(const std::string& what, const std::string& v) {
  if (v.empty() || v.find('/') != std::string::npos) {
    Fail(kExitBadArgs, "service " + what + " must be non-empty and contain no '/': " + GoQuote(v));
  }
}

void Line(const std::string& text) {
  Out(text + "\n");
  std::fflush(stdout);
}

// Blocks the termination signals in every thread; a dedicated thread waits for them.
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// Registration state shared between the keep-alive loop and the signal thread.
struct Registration {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  KeepAliveStream* stream = nullptr;  // guarded by mu; cancelled on stop

  void RequestStop() {
    std::lock_guard<std::mutex> l(mu);
    stop = true;
    if (stream != nullptr) stream->Cancel();
    cv.notify_all();
  }
  bool Stopped() {
    std::lock_guard<std::mutex> l(mu);
    return stop;
  }
};

int RunRegister(Invocation& inv) {
  if (inv.args.size() != 3) Fail(kExitBadArgs, "service register needs <name> <id> <address>");
  ServiceInstance inst{inv.args[0], inv.args[1], inv.args[2], {}};
  CheckPathPart("name", inst.name);
  CheckPathPart("id", inst.id);
  for (const auto& kv : inv.flags->GetSlice("meta")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) Fail(kExitBadArgs, "bad --meta " + GoQuote(kv) + ", expecting key=value");
    inst.meta[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  int64_t ttl = inv.flags->GetInt64("ttl");
  if (ttl <= 0) Fail(kExitBadArgs, "--ttl must be a positive number of seconds");

  // Before any thread exists (gRPC starts its own), so that all of them inherit the mask.
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Client& client = inv.client();
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(ttl);
  auto granted = client.LeaseGrant(grant);
  if (!granted.ok()) Fail(kExitError, "failed to grant lease (" + ErrText(granted.status()) + ")");
  const int64_t lease = granted->id();
  etcdserverpb::PutRequest put;
  put.set_key(inst.Key());
  put.set_value(inst.ToJson());
  put.set_lease(lease);
  auto written = client.Put(put);
  if (!written.ok()) {
    etcdserverpb::LeaseRevokeRequest revoke;
    revoke.set_id(lease);
    (void)client.LeaseRevoke(revoke);
    Fail(kExitError, ErrText(written.status()));
  }
  Line("registered " + inst.Key() + " with lease " + Hex16(static_cast<uint64_t>(lease)) + " (TTL " +
       std::to_string(granted->ttl()) + "s)");

  Registration reg;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    reg.RequestStop();
  });
  signal_thread.detach();  // it may still be in sigwait when we exit

  // Keep-alive loop: renew at a third of the TTL; on a broken stream reconnect (another
  // endpoint may answer) and go on with the same lease.
  std::unique_ptr<Client> fresh;  // replacement connection after a failure
  Client* current = &client;
  int64_t period_ms = std::max<int64_t>(300, granted->ttl() * 1000 / 3);
  std::string lost;
  while (!reg.Stopped()) {
    auto stream = current->KeepAlive();
    if (!stream.ok()) {
      lost = ErrText(stream.status());
      break;
    }
    {
      std::lock_guard<std::mutex> l(reg.mu);
      reg.stream = stream->get();
      if (reg.stop) break;
    }
    bool broken = false;
    while (!reg.Stopped()) {
      etcdserverpb::LeaseKeepAliveResponse resp;
      if (!(*stream)->Send(lease) || !(*stream)->Read(&resp)) {
        broken = true;
        break;
      }
      if (resp.ttl() <= 0) {
        lost = "lease " + Hex16(static_cast<uint64_t>(lease)) + " expired or revoked";
        break;
      }
      std::unique_lock<std::mutex> l(reg.mu);
      reg.cv.wait_for(l, std::chrono::milliseconds(period_ms), [&] { return reg.stop; });
    }
    {
      std::lock_guard<std::mutex> l(reg.mu);
      reg.stream = nullptr;
    }
    (*stream)->Cancel();
    (void)(*stream)->Finish();
    if (!lost.empty() || !broken || reg.Stopped()) break;
    // Reconnect until some endpoint answers or we are told to stop.
    while (!reg.Stopped()) {
      auto c = Client::Connect(inv.client_config);
      if (c.ok()) {
        fresh = std::move(*c);
        current = fresh.get();
        break;
      }
      std::unique_lock<std::mutex> l(reg.mu);
      reg.cv.wait_for(l, std::chrono::milliseconds(200), [&] { return reg.stop; });
    }
  }
  if (!lost.empty()) Fail(kExitError, lost);

  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  auto revoked = current->LeaseRevoke(revoke);
  if (!revoked.ok()) Fail(kExitError, "failed to revoke lease (" + ErrText(revoked.status()) + ")");
  Line("deregistered " + inst.Key());
  return kExitSuccess;
}

etcdserverpb::RangeRequest PrefixRange(const std::string& prefix) {
  etcdserverpb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(PrefixRangeEnd(prefix));
  return req;
}

std::string PrefixFor(const std::vector<std::string>& args) {
  if (args.empty()) return kServicesPrefix;
  CheckPathPart("name", args[0]);
  return std::string(kServicesPrefix) + args[0] + "/";
}

int RunList(Invocation& inv) {
  if (inv.args.size() > 1) Fail(kExitBadArgs, "service list takes at most one <name>");
  auto resp = inv.client().Range(PrefixRange(PrefixFor(inv.args)));
  if (!resp.ok()) Fail(kExitError, ErrText(resp.status()));
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> json;
  for (const auto& kv : resp->kvs()) {
    auto inst = ServiceInstance::Parse(kv.key(), kv.value());
    if (!inst.ok()) {
      ErrOut("skipping " + GoQuote(kv.key()) + ": not a service record\n");
      continue;
    }
    std::string lease = kv.lease() ? Hex16(static_cast<uint64_t>(kv.lease())) : "";
    rows.push_back({inst->name, inst->id, inst->address, inst->MetaText(), lease});
    json.push_back(inst->ToJson().substr(0, inst->ToJson().size() - 1) + ",\"lease\":" + JsonString(lease) + "}");
  }
  switch (inv.printer->format()) {
    case OutputFormat::kJson:
      Out("[" + absl::StrJoin(json, ",") + "]\n");
      break;
    case OutputFormat::kSimple:
    case OutputFormat::kTable:
      Out(RenderTable({"name", "id", "address", "metadata", "lease"}, rows));
      break;
    default:
      Fail(kExitBadFeature, "fields not supported as output format");
  }
  return kExitSuccess;
}

std::string Describe(const ServiceInstance& inst) {
  std::string s = inst.name + "/" + inst.id + " " + inst.address;
  if (!inst.meta.empty()) s += " " + inst.MetaText();
  return s;
}

int RunServiceWatch(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "service watch needs <name>");
  std::string prefix = PrefixFor(inv.args);
  auto current = inv.client().Range(PrefixRange(prefix));
  if (!current.ok()) Fail(kExitError, ErrText(current.status()));
  for (const auto& kv : current->kvs()) {
    auto inst = ServiceInstance::Parse(kv.key(), kv.value());
    if (inst.ok()) Line("PRESENT " + Describe(*inst));
  }
  etcdserverpb::WatchCreateRequest req;
  req.set_key(prefix);
  req.set_range_end(PrefixRangeEnd(prefix));
  req.set_start_revision(current->header().revision() + 1);
  req.set_prev_kv(true);
  ResumingWatcher watcher(inv.client_config, req);
  absl::Status st = watcher.Run([&](const etcdserverpb::WatchResponse& resp) {
    for (const auto& ev : resp.events()) {
      if (ev.type() == mvccpb::Event::DELETE) {
        const auto& before = ev.has_prev_kv() ? ev.prev_kv() : ev.kv();
        auto inst = ServiceInstance::Parse(ev.kv().key(), before.value());
        if (inst.ok()) {
          Line("LEFT " + Describe(*inst));
        } else {
          Line("LEFT " + ev.kv().key().substr(std::string(kServicesPrefix).size()));
        }
        continue;
      }
      auto inst = ServiceInstance::Parse(ev.kv().key(), ev.kv().value());
      if (!inst.ok()) continue;
      Line((ev.kv().version() == 1 ? "JOINED " : "UPDATED ") + Describe(*inst));
    }
    return true;
  });
  if (st.ok() || st.code() == absl::StatusCode::kFailedPrecondition) {
    Fail(kExitInterrupted, "watch is canceled by the server");
  }
  Fail(kExitError, ErrText(st));
}

int RunDeregister(Invocation& inv) {
  if (inv.args.size() != 2) Fail(kExitBadArgs, "service deregister needs <name> <id>");
  CheckPathPart("name", inv.args[0]);
  CheckPathPart("id", inv.args[1]);
  ServiceInstance inst{inv.args[0], inv.args[1], "", {}};
  etcdserverpb::RangeRequest get;
  get.set_key(inst.Key());
  auto found = inv.client().Range(get);
  if (!found.ok()) Fail(kExitError, ErrText(found.status()));
  if (found->kvs_size() == 0) Fail(kExitError, "service instance " + inst.name + "/" + inst.id + " not found");
  int64_t lease = found->kvs(0).lease();
  if (lease != 0) {
    // Revoking removes the key and tells the registering process (its keep-alive sees the
    // lease gone) to stop.
    etcdserverpb::LeaseRevokeRequest revoke;
    revoke.set_id(lease);
    auto r = inv.client().LeaseRevoke(revoke);
    if (!r.ok() && r.status().message() != "etcdserver: requested lease not found") {
      Fail(kExitError, "failed to revoke lease (" + ErrText(r.status()) + ")");
    }
  }
  etcdserverpb::DeleteRangeRequest del;
  del.set_key(inst.Key());
  auto d = inv.client().DeleteRange(del);
  if (!d.ok()) Fail(kExitError, ErrText(d.status()));
  Line("deregistered " + inst.Key());
  return kExitSuccess;
}

}  // namespace

void AddServiceCommands(std::vector<CommandDef>* out) {
  out->push_back({"service register", "service register <name> <id> <address> [--ttl 10] [--meta k=v ...]",
                  {{"ttl", "", FlagKind::kInt64, "10"}, {"meta", "", FlagKind::kStringArray, ""}},
                  RunRegister});
  out->push_back({"service list", "service list [<name>]", {}, RunList});
  out->push_back({"service watch", "service watch <name>", {}, RunServiceWatch});
  out->push_back({"service deregister", "service deregister <name> <id>", {}, RunDeregister});
}

}  // namespace cairn::ctl
