// lease grant|revoke|timetolive|list|keep-alive and watch (plain, exec, interactive).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/ctl/child_process.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/watcher.h"

namespace cairn::ctl {
namespace {

std::string ErrText(const absl::Status& s) { return std::string(s.message()); }

int64_t LeaseFromArg(const std::string& arg) {
  int64_t id;
  if (!absl::SimpleHexAtoi(arg, &id) || arg.empty() || arg.find_first_of("xX") != std::string::npos) {
    Fail(kExitBadArgs, "bad lease ID arg (strconv.ParseInt: parsing " + GoQuote(arg) +
                           ": invalid syntax), expecting ID in Hex");
  }
  return id;
}

int RunLeaseGrant(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "lease grant command needs TTL argument");
  int64_t ttl;
  if (!absl::SimpleAtoi(inv.args[0], &ttl)) {
    Fail(kExitBadArgs, "bad TTL (strconv.ParseInt: parsing " + GoQuote(inv.args[0]) + ": invalid syntax)");
  }
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl);
  auto resp = inv.client().LeaseGrant(req);
  if (!resp.ok()) Fail(kExitError, "failed to grant lease (" + ErrText(resp.status()) + ")");
  CheckPrinted(inv.printer->Grant(*resp));
  return kExitSuccess;
}

int RunLeaseRevoke(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "lease revoke command needs 1 argument");
  int64_t id = LeaseFromArg(inv.args[0]);
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(id);
  auto resp = inv.client().LeaseRevoke(req);
  if (!resp.ok()) Fail(kExitError, "failed to revoke lease (" + ErrText(resp.status()) + ")");
  CheckPrinted(inv.printer->Revoke(id, *resp));
  return kExitSuccess;
}

int RunLeaseTimeToLive(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "lease timetolive command needs lease ID as argument");
  etcdserverpb::LeaseTimeToLiveRequest req;
  req.set_id(LeaseFromArg(inv.args[0]));
  req.set_keys(inv.flags->GetBool("keys"));
  auto resp = inv.client().LeaseTimeToLive(req);
  if (!resp.ok()) Fail(kExitBadConnection, ErrText(resp.status()));
  CheckPrinted(inv.printer->TimeToLive(*resp, req.keys()));
  return kExitSuccess;
}

int RunLeaseList(Invocation& inv) {
  auto resp = inv.client().LeaseLeases(etcdserverpb::LeaseLeasesRequest());
  if (!resp.ok()) Fail(kExitBadConnection, ErrText(resp.status()));
  CheckPrinted(inv.printer->Leases(*resp));
  return kExitSuccess;
}

int RunLeaseKeepAlive(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "lease keep-alive command needs lease ID as argument");
  int64_t id = LeaseFromArg(inv.args[0]);
  auto stream = inv.client().KeepAlive();
  if (!stream.ok()) Fail(kExitBadConnection, ErrText(stream.status()));
  KeepAliveStream& ka = **stream;
  if (inv.flags->GetBool("once")) {
    etcdserverpb::LeaseKeepAliveResponse resp;
    if (!ka.Send(id) || !ka.Read(&resp)) {
      absl::Status st = ka.Finish();
      Fail(kExitBadConnection, st.ok() ? "context canceled" : ErrText(st));
    }
    if (resp.ttl() <= 0) Fail(kExitBadConnection, "etcdserver: requested lease not found");
    CheckPrinted(inv.printer->KeepAlive(resp));
    ka.Cancel();
    return kExitSuccess;
  }
  // Renew at a third of the TTL, like clientv3; stop when the lease is gone.
  std::mutex mu;
  std::condition_variable cv;
  int64_t ttl = 5;
  bool done = false;
  std::thread sender([&] {
    std::unique_lock<std::mutex> l(mu);
    while (!done) {
      l.unlock();
      bool sent = ka.Send(id);
      l.lock();
      if (!sent) break;
      int64_t wait_ms = std::max<int64_t>(500, ttl * 1000 / 3);
      cv.wait_for(l, std::chrono::milliseconds(wait_ms), [&] { return done; });
    }
  });
  etcdserverpb::LeaseKeepAliveResponse resp;
  while (ka.Read(&resp)) {
    if (resp.ttl() <= 0) break;
    {
      std::lock_guard<std::mutex> l(mu);
      ttl = resp.ttl();
    }
    CheckPrinted(inv.printer->KeepAlive(resp));
    std::fflush(stdout);
  }
  {
    std::lock_guard<std::mutex> l(mu);
    done = true;
  }
  cv.notify_all();
  ka.Cancel();
  sender.join();
  if (inv.printer->format() == OutputFormat::kSimple) {
    Out(absl::StrCat("lease ", Hex16(static_cast<uint64_t>(id)), " expired or revoked.\n"));
  }
  return kExitSuccess;
}

// ---------------------------------------------------------------- watch

std::string EnvOr(const char* a, const char* b) {
  if (const char* v = std::getenv(a)) return v;
  if (const char* v = std::getenv(b)) return v;
  return "";
}

bool IsProgressNotify(const etcdserverpb::WatchResponse& r) {
  return r.events_size() == 0 && !r.canceled() && !r.created() && r.compact_revision() == 0 &&
         r.header().revision() != 0;
}

void RunExec(const std::vector<std::string>& exec_args, const etcdserverpb::WatchResponse& resp,
             const mvccpb::Event& ev) {
  const int status = RunChild(exec_args, {
      {"ETCD_WATCH_REVISION", std::to_string(resp.header().revision())},
      {"ETCD_WATCH_EVENT_TYPE", GoQuote(ev.type() == mvccpb::Event::DELETE ? "DELETE" : "PUT")},
      {"ETCD_WATCH_KEY", GoQuote(ev.kv().key())},
      {"ETCD_WATCH_VALUE", GoQuote(ev.kv().value())},
  });
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string q = "[";
    for (size_t i = 0; i < exec_args.size(); ++i) q += (i ? " " : "") + GoQuote(exec_args[i]);
    ErrOut("command " + q + "] error (exit status " + std::to_string(WEXITSTATUS(status)) + ")\n");
    std::exit(1);
  }
}

struct WatchSpec {
  bool prefix = false, prev_kv = false;
  int64_t rev = 0;
};

// Builds the create request for `args` (key [range_end]); errors like etcdctl.
absl::StatusOr<etcdserverpb::WatchCreateRequest> WatchRequestFor(const std::vector<std::string>& args,
                                                                 const WatchSpec& spec) {
  if (args.empty()) return absl::InvalidArgumentError("bad number of arguments");
  etcdserverpb::WatchCreateRequest req;
  std::string key = args[0];
  if (args.size() == 2) {
    if (spec.prefix) return absl::InvalidArgumentError("`range_end` and `--prefix` are mutually exclusive");
    req.set_range_end(args[1]);
  }
  if (spec.prefix) {
    if (key.empty()) {
      key = std::string(1, '\0');
      req.set_range_end(std::string(1, '\0'));
    } else {
      req.set_range_end(PrefixRangeEnd(key));
    }
  }
  req.set_key(key);
  req.set_start_revision(spec.rev);
  req.set_prev_kv(spec.prev_kv);
  return req;
}

std::mutex g_print_mu;

// Prints responses until the server cancels the watch; returns that outcome.
absl::Status PrintWatch(Invocation& inv, const etcdserverpb::WatchCreateRequest& req,
                        const std::vector<std::string>& exec_args) {
  ResumingWatcher watcher(inv.client_config, req);
  return watcher.Run([&](const etcdserverpb::WatchResponse& resp) {
    std::lock_guard<std::mutex> l(g_print_mu);
    if (resp.canceled()) {
      std::string reason = resp.cancel_reason();
      if (reason.empty() && resp.compact_revision() > 0) {
        reason = "etcdserver: mvcc: required revision has been compacted";
      }
      ErrOut("watch was canceled (" + reason + ")\n");
    }
    if (IsProgressNotify(resp)) Out(absl::StrCat("progress notify: ", resp.header().revision(), "\n"));
    CheckPrinted(inv.printer->Watch(resp));
    std::fflush(stdout);
    if (!exec_args.empty()) {
      for (const auto& ev : resp.events()) RunExec(exec_args, resp, ev);
    }
    return true;
  });
}

[[noreturn]] void WatchEnded(const absl::Status& st) {
  if (st.code() == absl::StatusCode::kFailedPrecondition || st.ok()) {
    Fail(kExitInterrupted, "watch is canceled by the server");
  }
  Fail(kExitError, std::string(st.message()));
}

int RunWatchInteractive(Invocation& inv, const std::string& env_key, const std::string& env_range) {
  inv.client();  // connect first, like etcdctl
  std::string line;
  std::vector<std::thread> watches;
  while (std::getline(std::cin, line)) {
    auto words = Argify(line);
    if (!words.ok() || words->empty()) {
      ErrOut("Invalid command: " + line + " (watch and progress supported)\n");
      continue;
    }
    if ((*words)[0] == "progress") {
      ErrOut("Invalid command " + line + " (progress is not supported by cairnctl)\n");
      continue;
    }
    if ((*words)[0] != "watch") {
      ErrOut("Invalid command " + line + " (only support watch)\n");
      continue;
    }
    if (words->size() < 2 && env_key.empty()) {
      ErrOut("Invalid command " + line + " (command type or key is not provided)\n");
      continue;
    }
    FlagSet fs;
    fs.Add({"prefix", "", FlagKind::kBool, "false"});
    fs.Add({"rev", "", FlagKind::kInt64, "0"});
    fs.Add({"prev-kv", "", FlagKind::kBool, "false"});
    fs.Add({"interactive", "i", FlagKind::kBool, "false"});
    std::vector<std::string> rest(words->begin() + 1, words->end());
    std::vector<std::string> exec_args;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == "--") {
        if (i + 1 == rest.size()) Fail(kExitBadArgs, "bad number of arguments (found separator --, but no commands)");
        exec_args.assign(rest.begin() + static_cast<long>(i) + 1, rest.end());
        rest.resize(i);
        break;
      }
    }
    auto args = ParseFlags(rest, fs);
    if (!args.ok()) Fail(kExitBadArgs, std::string(args.status().message()));
    if (!args->empty() && !env_key.empty()) {
      Fail(kExitBadArgs, "bad number of arguments (found conflicting environment key)");
    }
    if (args->empty() && !env_key.empty()) {
      args->push_back(env_key);
      if (!env_range.empty()) args->push_back(env_range);
    }
    WatchSpec spec{fs.GetBool("prefix"), fs.GetBool("prev-kv"), fs.GetInt64("rev")};
    auto req = WatchRequestFor(*args, spec);
    if (!req.ok()) {
      ErrOut("Invalid command " + line + " (" + std::string(req.status().message()) + ")\n");
      continue;
    }
    watches.emplace_back([&inv, r = *req, exec_args] { (void)PrintWatch(inv, r, exec_args); });
  }
  Fail(kExitInvalidInput, "Error reading watch request line: EOF");
}

int RunWatch(Invocation& inv) {
  std::string env_key = EnvOr("CAIRNCTL_WATCH_KEY", "ETCDCTL_WATCH_KEY");
  std::string env_range = EnvOr("CAIRNCTL_WATCH_RANGE_END", "ETCDCTL_WATCH_RANGE_END");
  if (env_key.empty() && !env_range.empty()) {
    Fail(kExitBadArgs, "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=" + GoQuote(env_range));
  }
  if (inv.flags->GetBool("interactive")) return RunWatchInteractive(inv, env_key, env_range);

  // Everything after the first "--" that follows the command word is the command to run.
  std::vector<std::string> exec_args;
  bool found_sep = false;
  bool after_watch = false;
  for (size_t i = 0; i < inv.raw_args.size(); ++i) {
    if (!after_watch) {
      after_watch = inv.raw_args[i] == "watch";
      continue;
    }
    if (inv.raw_args[i] == "--") {
      found_sep = true;
      exec_args.assign(inv.raw_args.begin() + static_cast<long>(i) + 1, inv.raw_args.end());
      break;
    }
  }
  if (found_sep && exec_args.empty()) Fail(kExitBadArgs, "bad number of arguments (found separator --, but no commands)");
  std::vector<std::string> args(inv.args.begin(), inv.args.end() - static_cast<long>(exec_args.size()));
  if (!args.empty() && !env_key.empty()) Fail(kExitBadArgs, "bad number of arguments (found conflicting environment key)");
  if (args.empty() && !env_key.empty()) {
    args.push_back(env_key);
    if (!env_range.empty()) args.push_back(env_range);
  }
  if (args.empty() || args.size() > 2) Fail(kExitBadArgs, "bad number of arguments");
  WatchSpec spec{inv.flags->GetBool("prefix"), inv.flags->GetBool("prev-kv"), inv.flags->GetInt64("rev")};
  auto req = WatchRequestFor(args, spec);
  if (!req.ok()) Fail(kExitBadArgs, std::string(req.status().message()));
  WatchEnded(PrintWatch(inv, *req, exec_args));
}

}  // namespace

void AddLeaseWatchCommands(std::vector<CommandDef>* out) {
  out->push_back({"lease grant", "lease grant <ttl>", {}, RunLeaseGrant});
  out->push_back({"lease revoke", "lease revoke <leaseID>", {}, RunLeaseRevoke});
  out->push_back({"lease timetolive", "lease timetolive <leaseID> [--keys]",
                  {{"keys", "", FlagKind::kBool, "false"}}, RunLeaseTimeToLive});
  out->push_back({"lease list", "lease list", {}, RunLeaseList});
  out->push_back({"lease keep-alive", "lease keep-alive [--once] <leaseID>",
                  {{"once", "", FlagKind::kBool, "false"}}, RunLeaseKeepAlive});
  out->push_back({"watch", "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
                  {{"interactive", "i", FlagKind::kBool, "false"},
                   {"prefix", "", FlagKind::kBool, "false"},
                   {"rev", "", FlagKind::kInt64, "0"},
                   {"prev-kv", "", FlagKind::kBool, "false"}},
                  RunWatch});
}

}  // namespace cairn::ctl
