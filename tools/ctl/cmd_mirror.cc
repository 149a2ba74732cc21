// etcdctl's `make-mirror`: copies the keys under a prefix, as of one revision, from the source
// cluster (the global flags) to a destination cluster, then follows the source's watch from the
// next revision and replays each revision's puts and deletes on the destination as one Txn.
// It runs until killed (SIGINT/SIGTERM end the process as they end etcdctl: by the signal) or an
// error; every 30 s it prints how many keys and events it has mirrored so far.
// Also `migrate`, which Cairn cannot offer (it has no v2 store).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tools/ctl/commands.h"
#include "tools/ctl/watcher.h"

namespace cairn::ctl {
namespace {

using etcdserverpb::RangeRequest;
using etcdserverpb::TxnRequest;

// clientv3's mirror syncer reads the base state in pages of this many keys.
constexpr int64_t kBasePageSize = 1000;

// Seconds between progress lines: etcdctl's 30, or CAIRNCTL_MAKE_MIRROR_PRINT_SECONDS (test-only).
int ProgressIntervalSeconds() {
  const char* v = std::getenv("CAIRNCTL_MAKE_MIRROR_PRINT_SECONDS");
  if (v != nullptr && std::atoi(v) > 0) return std::atoi(v);
  return 30;
}

// Maps a source key to its destination key: the first occurrence of the source prefix is
// replaced (every mirrored key starts with it, so that is its head).
class KeyMapper {
 public:
  KeyMapper(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  std::string Map(const std::string& key) const {
    size_t at = key.find(from_);
    if (at == std::string::npos) return key;
    return key.substr(0, at) + to_ + key.substr(at + from_.size());
  }

 private:
  std::string from_, to_;
};

void ApplyOrFail(Client& dest, TxnRequest& txn) {
  if (txn.success_size() == 0) return;
  auto r = dest.Txn(txn);
  if (!r.ok()) Fail(kExitError, std::string(r.status().message()));
  txn.Clear();
}

int RunMakeMirror(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "make-mirror takes one destination argument");
  const FlagSet& f = *inv.flags;

  ClientConfig dest_cfg;
  dest_cfg.endpoints = {inv.args[0]};
  dest_cfg.dial_timeout_ns = inv.client_config.dial_timeout_ns;
  dest_cfg.command_timeout_ns = kNoDeadlineNs;
  dest_cfg.cacert = f.GetString("dest-cacert");
  dest_cfg.cert = f.GetString("dest-cert");
  dest_cfg.key = f.GetString("dest-key");
  dest_cfg.insecure_transport = f.GetBool("dest-insecure-transport");
  std::unique_ptr<Client> dest = ConnectOrFail(dest_cfg);

  ClientConfig source_cfg = inv.client_config;
  source_cfg.command_timeout_ns = kNoDeadlineNs;
  std::unique_ptr<Client> source = ConnectOrFail(source_cfg);

  std::atomic<int64_t> total{0};
  const int interval = ProgressIntervalSeconds();
  std::thread([&total, interval] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(interval));
      std::printf("%lld\n", static_cast<long long>(total.load()));
      std::fflush(stdout);
    }
  }).detach();  // runs until the process ends, as etcdctl's printer does

  const std::string prefix = f.GetString("prefix");
  // The base revision: the header of a read of "foo", as clientv3's syncer takes it.
  RangeRequest probe;
  probe.set_key("foo");
  auto probed = source->Range(probe);

  std::string dest_prefix = f.GetString("dest-prefix");
  const bool no_dest_prefix = f.GetBool("no-dest-prefix");
  if (no_dest_prefix && !dest_prefix.empty()) {
    Fail(kExitBadArgs, "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one");
  }
  if (!no_dest_prefix && dest_prefix.empty()) dest_prefix = prefix;
  const KeyMapper mapper(prefix, dest_prefix);

  if (!probed.ok()) Fail(kExitError, std::string(probed.status().message()));
  const int64_t base_rev = probed->header().revision();

  // Base state: every key under the prefix at base_rev, page by page.
  RangeRequest page;
  page.set_key(prefix.empty() ? std::string(1, '\0') : prefix);
  page.set_range_end(prefix.empty() ? std::string(1, '\0') : PrefixRangeEnd(prefix));
  page.set_limit(kBasePageSize);
  page.set_revision(base_rev);
  for (;;) {
    auto r = source->Range(page);
    if (!r.ok()) Fail(kExitError, std::string(r.status().message()));
    for (const auto& kv : r->kvs()) {
      etcdserverpb::PutRequest put;
      put.set_key(mapper.Map(kv.key()));
      put.set_value(kv.value());
      auto p = dest->Put(put);
      if (!p.ok()) Fail(kExitError, std::string(p.status().message()));
      ++total;
    }
    if (!r->more() || r->kvs_size() == 0) break;
    page.set_key(r->kvs(r->kvs_size() - 1).key() + std::string(1, '\0'));
  }

  // Updates: each revision's events become one Txn on the destination.
  etcdserverpb::WatchCreateRequest watch;
  watch.set_key(prefix.empty() ? std::string(1, '\0') : prefix);
  watch.set_range_end(prefix.empty() ? std::string(1, '\0') : PrefixRangeEnd(prefix));
  watch.set_start_revision(base_rev + 1);
  ResumingWatcher watcher(source_cfg, watch);
  absl::Status ended = watcher.Run([&](const etcdserverpb::WatchResponse& resp) {
    if (resp.compact_revision() != 0) Fail(kExitError, "etcdserver: mvcc: required revision has been compacted");
    TxnRequest txn;
    int64_t txn_rev = 0;
    for (const auto& ev : resp.events()) {
      if (txn_rev != 0 && ev.kv().mod_revision() > txn_rev) ApplyOrFail(*dest, txn);
      txn_rev = ev.kv().mod_revision();
      auto* op = txn.add_success();
      if (ev.type() == mvccpb::Event::PUT) {
        op->mutable_request_put()->set_key(mapper.Map(ev.kv().key()));
        op->mutable_request_put()->set_value(ev.kv().value());
      } else {
        op->mutable_request_delete_range()->set_key(mapper.Map(ev.kv().key()));
      }
      ++total;
    }
    ApplyOrFail(*dest, txn);
    return !resp.canceled();
  });
  // The watch ended without an error of its own (cancelled by the server): etcdctl then
  // reports its nil error.
  if (!ended.ok() && ended.code() != absl::StatusCode::kFailedPrecondition) {
    Fail(kExitError, std::string(ended.message()));
  }
  Fail(kExitError, "<nil>");
}

int RunMigrate(Invocation&) {
  Fail(kExitError,
       "migrate is not supported: it converts etcd v2 store data to v3, and Cairn has no v2 store "
       "(use `cairnctl make-mirror` to copy keys from an etcd v3 cluster)");
}

}  // namespace

void AddMirrorCommands(std::vector<CommandDef>* out) {
  out->push_back({"make-mirror",
                  "make-mirror [options] <destination>",
                  {
                      {"prefix", "", FlagKind::kString, ""},
                      {"dest-prefix", "", FlagKind::kString, ""},
                      {"no-dest-prefix", "", FlagKind::kBool, "false"},
                      {"dest-cert", "", FlagKind::kString, ""},
                      {"dest-key", "", FlagKind::kString, ""},
                      {"dest-cacert", "", FlagKind::kString, ""},
                      {"dest-insecure-transport", "", FlagKind::kBool, "true"},
                  },
                  RunMakeMirror});
  out->push_back({"migrate", "migrate (not supported: Cairn has no v2 store)",
                  {
                      {"data-dir", "", FlagKind::kString, ""},
                      {"wal-dir", "", FlagKind::kString, ""},
                      {"no-ttl", "", FlagKind::kBool, "false"},
                      {"transformer", "", FlagKind::kString, ""},
                  },
                  RunMigrate});
}

}  // namespace cairn::ctl
