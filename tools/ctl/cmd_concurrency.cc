// etcdctl's `lock` and `elect`, over the server's Lock and Election services: the lock or the
// candidacy belongs to a session (a lease this process keeps alive), so it is released when the
// process is interrupted (unlock/resign) or dies (the lease expires).
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tools/ctl/child_process.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/session.h"

namespace cairn::ctl {
namespace {

std::string ErrText(const absl::Status& s) { return std::string(s.message()); }

// clientv3's concurrency sessions last 60 s unless told otherwise; `elect` does not say.
constexpr int64_t kDefaultSessionTtlSeconds = 60;

// SIGINT and SIGTERM, as etcdctl handles them: blocked in every thread (so construct this before
// the client starts gRPC's), taken by a thread of its own, which abandons the call waiting
// (`interrupt`) and runs what the command registered for that moment.
class Signals {
 public:
  Signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      std::lock_guard<std::mutex> l(mu_);
      received_ = true;
      interrupt.Fire();
      if (on_signal_) on_signal_();
    }).detach();  // it may still be in sigwait when the process exits
  }
  // Runs `f` on the signal (at once if one came already), in place of what was registered before.
  void OnSignal(std::function<void()> f) {
    std::lock_guard<std::mutex> l(mu_);
    on_signal_ = std::move(f);
    if (received_ && on_signal_) on_signal_();
  }
  bool received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }
  const sigset_t& set() const { return set_; }

  Interrupt interrupt;

 private:
  sigset_t set_;
  std::mutex mu_;
  bool received_ = false;
  std::function<void()> on_signal_;
};

etcdserverpb::RangeResponse OneKey(const etcdserverpb::ResponseHeader& header, const mvccpb::KeyValue& kv) {
  etcdserverpb::RangeResponse r;
  *r.mutable_header() = header;
  *r.add_kvs() = kv;
  r.set_count(1);
  return r;
}

// Prints the key as etcdctl's `get` would, after reading it back (it must still be there).
void PrintOwnedKey(Invocation& inv, const std::string& key, const std::string& lost_message) {
  etcdserverpb::RangeRequest get;
  get.set_key(key);
  auto got = inv.client().Range(get);
  if (!got.ok()) Fail(kExitError, ErrText(got.status()));
  if (got->kvs_size() == 0) Fail(kExitError, lost_message);
  CheckPrinted(inv.printer->Get(*got));
  std::fflush(stdout);
}

// Runs the command with the lock's key and revision in its environment; its exit status.
int RunWithLock(const std::vector<std::string>& command, const v3lockpb::LockResponse& locked,
                const sigset_t& blocked) {
  const int status = RunChild(command,
                              {{"ETCD_LOCK_KEY", locked.key()},
                               {"ETCD_LOCK_REV", std::to_string(locked.header().revision())}},
                              &blocked);
  if (status < 0) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

void EndSession(Session& session) {
  session.Stop();
  (void)session.Revoke();  // the keys it owned are released already; this only ends the lease early
}

int RunLock(Invocation& inv) {
  if (inv.args.empty()) Fail(kExitBadArgs, "lock takes a lock name argument and an optional command to execute");
  Signals signals;
  Client& client = inv.client();
  auto session = Session::Start(&client, inv.flags->GetInt64("ttl"));
  if (!session.ok()) Fail(kExitError, ErrText(session.status()));
  v3lockpb::LockRequest request;
  request.set_name(inv.args[0]);
  request.set_lease((*session)->lease());
  auto locked = client.Lock(request, &signals.interrupt);
  if (!locked.ok()) {
    EndSession(**session);
    Fail(kExitError, ErrText(locked.status()));
  }
  v3lockpb::UnlockRequest unlock;
  unlock.set_key(locked->key());

  const std::vector<std::string> command(inv.args.begin() + 1, inv.args.end());
  if (!command.empty()) {
    // A signal now reaches the command too; the lock is held until it has ended.
    const int status = RunWithLock(command, *locked, signals.set());
    auto unlocked = client.Unlock(unlock);
    EndSession(**session);
    if (status != 0) Fail(kExitError, absl::StrCat("exit status ", status));
    if (!unlocked.ok()) Fail(kExitError, ErrText(unlocked.status()));
    return kExitSuccess;
  }
  PrintOwnedKey(inv, locked->key(), "lock lost on init");
  Session* held = session->get();
  signals.OnSignal([held] { held->Stop(); });
  if (held->WaitLost()) Fail(kExitError, "session expired");
  auto unlocked = client.Unlock(unlock);
  EndSession(*held);
  if (!unlocked.ok()) Fail(kExitError, ErrText(unlocked.status()));
  return kExitSuccess;
}

int Observe(Invocation& inv, Signals& signals, const std::string& election) {
  v3electionpb::LeaderRequest request;
  request.set_name(election);
  auto stream = inv.client().Observe(request);
  if (!stream.ok()) Fail(kExitError, ErrText(stream.status()));
  ObserveStream* observing = stream->get();
  signals.OnSignal([observing] { observing->Cancel(); });
  v3electionpb::LeaderResponse leader;
  while ((*stream)->Read(&leader)) {
    CheckPrinted(inv.printer->Get(OneKey(leader.header(), leader.kv())));
    std::fflush(stdout);
  }
  (void)(*stream)->Finish();
  if (!signals.received()) Fail(kExitError, "elect: observer lost");
  return kExitSuccess;
}

int Campaign(Invocation& inv, Signals& signals, const std::string& election, const std::string& proposal) {
  Client& client = inv.client();
  auto session = Session::Start(&client, kDefaultSessionTtlSeconds);
  if (!session.ok()) Fail(kExitError, ErrText(session.status()));
  v3electionpb::CampaignRequest request;
  request.set_name(election);
  request.set_lease((*session)->lease());
  request.set_value(proposal);
  auto won = client.Campaign(request, &signals.interrupt);
  if (!won.ok()) {
    EndSession(**session);
    Fail(kExitError, ErrText(won.status()));
  }
  PrintOwnedKey(inv, won->leader().key(), "elect: leader key lost");
  Session* held = session->get();
  signals.OnSignal([held] { held->Stop(); });
  if (held->WaitLost()) Fail(kExitError, "elect: session expired");
  v3electionpb::ResignRequest resign;
  *resign.mutable_leader() = won->leader();
  auto resigned = client.Resign(resign);
  EndSession(*held);
  if (!resigned.ok()) Fail(kExitError, ErrText(resigned.status()));
  return kExitSuccess;
}

int RunElect(Invocation& inv) {
  if (inv.args.size() != 1 && inv.args.size() != 2) {
    Fail(kExitBadArgs, "elect takes one election name argument and an optional proposal argument");
  }
  const bool listen = inv.flags->GetBool("listen");
  if (inv.args.size() == 1 && !listen) Fail(kExitBadArgs, "no proposal argument but -l not set");
  if (inv.args.size() == 2 && listen) Fail(kExitBadArgs, "proposal given but -l is set");
  Signals signals;
  if (listen) return Observe(inv, signals, inv.args[0]);
  return Campaign(inv, signals, inv.args[0], inv.args[1]);
}

}  // namespace

void AddConcurrencyCommands(std::vector<CommandDef>* out) {
  out->push_back({"lock", "lock <lockname> [exec-command arg1 arg2 ...]",
                  {{"ttl", "", FlagKind::kInt64, "10"}}, RunLock});
  out->push_back({"elect", "elect <election-name> [proposal]",
                  {{"listen", "l", FlagKind::kBool, "false"}}, RunElect});
}

}  // namespace cairn::ctl
