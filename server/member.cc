#include "server/member.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <climits>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/discovery/srv_discovery.h"
#include "server/errors.h"
#include "server/listener_tls.h"
#include "server/member_parts.h"
#include "server/peer/channel.h"
#include "server/snapshot_stream.h"

namespace cairn::server {
namespace {

// gRPC reports a failed bind only as "could not start"; binding once ourselves gives the user the
// operating system's reason ("Address already in use") with the address.
absl::Status ProbeListen(const Endpoint& endpoint) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string port = std::to_string(endpoint.port);
  if (int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve listen address ", endpoint.HostPort(), ": ", gai_strerror(rc)));
  }
  absl::Status result = absl::OkStatus();
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      result = absl::UnavailableError(
          absl::StrCat("cannot listen on ", endpoint.HostPort(), ": ", std::strerror(errno)));
    }
    ::close(fd);
    break;
  }
  freeaddrinfo(found);
  return result;
}

// A member started with --initial-cluster-state existing: asks the other members it names for
// the cluster's ID and membership, and finds itself in it by its peer URLs (it must have been
// added with MemberAdd first, as with etcd).
absl::StatusOr<std::pair<cairnpb::MembersResponse, DataDir::Identity>> JoinExistingCluster(
    const Config& config, const std::shared_ptr<grpc::ChannelCredentials>& peer_tls) {
  auto named = FoundingMembers(config);  // parses --initial-cluster; the IDs are not used
  if (!named.ok()) return named.status();
  absl::Status last = absl::UnavailableError("--initial-cluster names no other member");
  for (const cairnpb::MemberRecord& m : *named) {
    if (m.name() == config.name || m.peer_urls().empty()) continue;
    auto found = peer::FetchMembers(m.peer_urls(0), absl::Seconds(5), peer_tls);
    if (!found.ok()) {
      last = found.status();
      continue;
    }
    for (const cairnpb::MemberRecord& record : found->membership().members()) {
      const std::vector<std::string> urls(record.peer_urls().begin(), record.peer_urls().end());
      if (urls == config.initial_advertise_peer_urls) {
        return std::make_pair(*found, DataDir::Identity{record.id(), found->cluster_id()});
      }
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "this member (peer URLs ", absl::StrJoin(config.initial_advertise_peer_urls, ","),
        ") is not in the cluster's membership; add it first with `etcdctl member add ", config.name,
        " --peer-urls=", absl::StrJoin(config.initial_advertise_peer_urls, ","), "`"));
  }
  return absl::UnavailableError(absl::StrCat("cannot reach any member named by --initial-cluster to join: ",
                                             last.message()));
}


// The configuration of a first start with --discovery-srv: --initial-cluster as the domain's SRV
// records name the founders, sorted by URL so every member forms the same list.
absl::StatusOr<Config> WithFoundersFromSrv(const Config& config) {
  auto found = discovery::FoundingMembersFromSrv(config.name, config.discovery_srv, config.discovery_srv_name,
                                                 config.initial_advertise_peer_urls);
  if (!found.ok()) return found.status();
  std::sort(found->begin(), found->end(),
            [](const discovery::FoundingMember& a, const discovery::FoundingMember& b) { return a.peer_url < b.peer_url; });
  std::vector<std::string> entries;
  for (const auto& m : *found) entries.push_back(absl::StrCat(m.name, "=", m.peer_url));
  Config out = config;
  out.initial_cluster = absl::StrJoin(entries, ",");
  out.founders_from_srv = true;
  std::fprintf(stderr, "cairnd: --discovery-srv %s: founding members %s\n", config.discovery_srv.c_str(),
               out.initial_cluster.c_str());
  return out;
}

}  // namespace


Member::Member(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Member::~Member() { Shutdown(); }

const std::vector<int>& Member::client_ports() const { return parts_->client_ports; }
const std::vector<int>& Member::metrics_ports() const { return parts_->metrics_ports; }
uint64_t Member::member_id() const { return parts_->data_dir->member_id(); }

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& config) {
  auto p = std::make_unique<Parts>();
  const std::string data_dir = config.EffectiveDataDir();

  auto client_tls = PrepareTls(config.client_tls, "", config.listen_client_urls, data_dir + "/fixtures/client",
                               /*dials=*/false);
  if (!client_tls.ok()) return client_tls.status();
  auto peer_tls = PrepareTls(config.peer_tls, "peer-", config.listen_peer_urls, data_dir + "/fixtures/peer",
                             /*dials=*/true);
  if (!peer_tls.ok()) return peer_tls.status();
  p->peer_dial_tls = peer_tls->channel;

  // A founding member takes the IDs every founder derives from the founding list (its own and the
  // cluster's); a member joining an existing cluster learns them from the members it names.
  // With --discovery-srv, the founding members come from DNS, asked on the first start only (as
  // --initial-cluster is read only then).
  std::optional<cairnpb::MembersResponse> joined;
  std::optional<Config> discovered;
  auto new_identity = [&config, &joined, &peer_tls, &discovered]() -> absl::StatusOr<DataDir::Identity> {
    if (!config.discovery_srv.empty()) {
      auto with_founders = WithFoundersFromSrv(config);
      if (!with_founders.ok()) return with_founders.status();
      discovered = std::move(*with_founders);
    }
    const Config& founding = discovered ? *discovered : config;
    if (founding.initial_cluster_state == "new") {
      // This member's ID is the one every founder derives for it (FoundingMembers names it or fails).
      auto founders = FoundingMembers(founding);
      if (!founders.ok()) return founders.status();
      for (const auto& m : *founders) {
        if (m.name() == founding.name) return DataDir::Identity{m.id(), StableId(ClusterSeed(founding))};
      }
      return absl::InternalError("the founding members do not include this member");
    }
    auto found = JoinExistingCluster(founding, peer_tls->channel);
    if (!found.ok()) return found.status();
    joined = found->first;
    return found->second;
  };
  auto dir = DataDir::Open(data_dir, config.wal_dir, new_identity);
  if (!dir.ok()) return dir.status();
  p->data_dir = std::move(*dir);

  // Listen problems are the most common start-up mistake; find them before touching any data.
  for (const auto* urls : {&config.listen_client_urls, &config.listen_peer_urls}) {
    for (const Endpoint& e : *urls) {
      if (auto s = ProbeListen(e); !s.ok()) return s;
    }
  }

  mvcc::StoreOptions store_options;
  store_options.dir = p->data_dir->DbDir();
  store_options.quota_bytes = static_cast<uint64_t>(config.EffectiveQuotaBytes());
  p->quota_bytes = config.EffectiveQuotaBytes();
  // The WAL is the durability point; the store is replayed from it (see docs/ARCHITECTURE.md).
  store_options.no_sync = !config.backend_fsync;
  const auto store_opening = std::chrono::steady_clock::now();
  auto store = mvcc::Store::Open(store_options);
  if (!store.ok()) return store.status();
  if (!(*store)->ConvertedOnOpen().empty()) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - store_opening;
    std::fprintf(stderr, "cairnd: converted the store in %s from format %s to this version's (%.1f s, once)\n",
                 store_options.dir.c_str(), (*store)->ConvertedOnOpen().c_str(), took.count());
  }
  p->store = std::move(*store);

  wal::WalOptions wal_options;
  wal_options.dir = p->data_dir->WalDir();
  wal_options.segment_bytes = kWalSegmentBytes;
  // Appends overwrite zeros written ahead of time, so each fdatasync flushes only data, not the
  // file's growing size: about half the latency of a single client's put on ext4.
  wal_options.zero_fill_segments = true;
  wal_options.direct_sync = true;
  std::vector<wal::Record> replay;
  auto wal = wal::Wal::Open(wal_options, &replay);
  if (!wal.ok()) return wal.status();
  p->wal = std::move(*wal);

  HeaderInfo header;
  header.cluster_id = p->data_dir->cluster_id();
  header.member_id = p->data_dir->member_id();

  WritePipeline::Options pipeline_options;
  pipeline_options.header = header;
  pipeline_options.tick = std::chrono::milliseconds(config.heartbeat_interval_ms);
  pipeline_options.election_ticks =
      static_cast<int>(std::max<int64_t>(2, config.election_timeout_ms / std::max<int64_t>(1, config.heartbeat_interval_ms)));
  pipeline_options.request_timeout = std::chrono::milliseconds(5000 + 2 * config.election_timeout_ms);
  pipeline_options.log_retention = static_cast<uint64_t>(std::max<int64_t>(1, config.snapshot_catchup_entries));
  if (config.initial_cluster_state == "new") {
    // As with etcd, --initial-cluster only matters the first time: a member restarting on its data
    // dir takes the membership from its log and store, so flags left from an earlier address (after
    // MemberUpdate moved it) must not stop it.
    auto founders = FoundingMembers(discovered ? *discovered : config);
    if (!founders.ok() && p->data_dir->created()) return founders.status();
    if (founders.ok()) pipeline_options.founders = std::move(*founders);
  }
  pipeline_options.wal_fsync_seconds = p->metrics->wal_fsync_seconds();
  pipeline_options.backend_commit_seconds = p->metrics->backend_commit_seconds();
  pipeline_options.self.set_id(header.member_id);
  pipeline_options.self.set_name(config.name);
  for (const auto& url : config.initial_advertise_peer_urls) pipeline_options.self.add_peer_urls(url);
  for (const auto& url : config.advertise_client_urls) pipeline_options.self.add_client_urls(url);
  // As etcd: the flag recovers an existing member; a new data directory starts as usual.
  pipeline_options.force_new_cluster = config.force_new_cluster && !p->data_dir->created();
  if (config.force_new_cluster && p->data_dir->created()) {
    std::fprintf(stderr, "cairnd: --force-new-cluster ignored: %s is a new data directory\n", data_dir.c_str());
  }
  p->pipeline = std::make_unique<WritePipeline>(p->wal.get(), p->store.get(), pipeline_options);
  if (auto s = p->pipeline->Recover(replay); !s.ok()) return s;
  replay.clear();
  replay.shrink_to_fit();
  // Every response header carries the current raft term.
  header.raft_term_source = p->pipeline->TermSource();

  WritePipeline* pipeline = p->pipeline.get();
  peer::PeerTransportOptions transport_options;
  transport_options.self_id = header.member_id;
  transport_options.cluster_id = header.cluster_id;
  transport_options.on_message = [pipeline](cairnpb::Message m) { pipeline->Step(std::move(m)); };
  transport_options.on_unreachable = [pipeline](uint64_t peer) { pipeline->ReportUnreachable(peer); };
  transport_options.on_snapshot_status = [pipeline](uint64_t peer, bool ok) { pipeline->ReportSnapshot(peer, ok); };
  transport_options.snapshot_dir = p->data_dir->SnapDir();
  transport_options.tls_credentials = peer_tls->channel;
  {
    std::error_code ec;
    std::filesystem::create_directories(transport_options.snapshot_dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", transport_options.snapshot_dir, ": ", ec.message()));
    RemoveStaleSnapshotScratch(transport_options.snapshot_dir);
  }
  p->transport = std::make_unique<peer::PeerTransport>(transport_options);
  p->transport->SetMembershipSource([pipeline] { return pipeline->Membership(); });
  p->transport->SetHashKVSource([store = p->store.get(), self = header.member_id](int64_t revision) {
    return AnswerPeerHashKV(*store, self, revision);
  });
  PeerHashAsker hash_asker{header.member_id, header.cluster_id, absl::Seconds(5), peer_tls->channel};
  if (joined.has_value()) {
    // Until the leader's log or image arrives, these are the members this one answers.
    for (const cairnpb::MemberRecord& m : joined->membership().members()) {
      if (m.id() != header.member_id && !m.peer_urls().empty()) p->transport->AddPeer(m.id(), m.peer_urls(0));
    }
  }
  PeerLeaseForwarder::Options forwarder_options;
  forwarder_options.self_id = header.member_id;
  forwarder_options.leader = [pipeline] { return pipeline->Leader(); };
  forwarder_options.patience = std::chrono::milliseconds(3 * config.election_timeout_ms);
  // Lease calls answered from this member's lessor: for followers' forwarded calls, and for a
  // call this member forwarded just before it became the leader. The lease service exists by the
  // time either happens; it is reached through Parts.
  Parts* parts_for_lease = p.get();
  auto answer_renew = [parts_for_lease](const etcdserverpb::LeaseKeepAliveRequest& request,
                                        std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
    parts_for_lease->lease->AnswerRenew(request, std::move(done));
  };
  auto answer_time_to_live =
      [parts_for_lease](const etcdserverpb::LeaseTimeToLiveRequest& request,
                        std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
        etcdserverpb::LeaseTimeToLiveResponse response;
        absl::Status s = parts_for_lease->lease->AnswerTimeToLive(request, &response);
        if (!s.ok()) return done(s);
        done(std::move(response));
      };
  forwarder_options.local_primary = [parts_for_lease] { return parts_for_lease->lessor->IsPrimary(); };
  forwarder_options.local_renew = answer_renew;
  forwarder_options.local_time_to_live = answer_time_to_live;
  p->lease_forwarder = std::make_unique<PeerLeaseForwarder>(p->transport.get(), forwarder_options);
  ReconfigPolicy reconfig_policy;
  reconfig_policy.strict = config.strict_reconfig_check;
  reconfig_policy.election_timeout = std::chrono::milliseconds(config.election_timeout_ms);
  p->change_checker =
      std::make_unique<MembershipChangeChecker>(pipeline, p->transport.get(), header.member_id, reconfig_policy);
  p->transport->SetMembershipCheckHandler(
      [checker = p->change_checker.get()](
          const cairnpb::MembershipChangeCheck& request,
          std::function<void(absl::StatusOr<cairnpb::MembershipChangeVerdict>)> done) {
        absl::Status verdict = checker->CheckHere(request);
        if (!verdict.ok()) return done(verdict);
        done(cairnpb::MembershipChangeVerdict());
      });

  p->history = std::make_unique<StoreHistory>(p->store.get());
  watch::HubOptions hub_options;
  hub_options.max_response_bytes = static_cast<size_t>(config.max_request_bytes + kGrpcOverheadBytes);
  hub_options.min_round_interval = absl::Milliseconds(config.watch_batch_interval_ms);
  hub_options.progress_notify_interval = absl::Milliseconds(config.watch_progress_notify_interval_ms);
  p->watch_hub = std::make_unique<watch::WatchHub>(
      p->history.get(), [header](etcdserverpb::ResponseHeader* h) { StampHeader(header, h); }, hub_options);
  p->watch = std::make_unique<watch::WatchService>(p->watch_hub.get());
  // Grants and revocations reach the log like every other write.
  auto make_proposer = [pipeline](bool leader_only) -> lease::Proposer {
    return [pipeline, leader_only](cairnpb::LogRequest request, google::protobuf::Message* response,
                                   etcdserverpb::ResponseHeader* header, std::function<void(absl::Status)> done) {
      // A CORRUPT alarm refuses grants and revokes (again when applied); this saves the entry.
      if (const uint32_t alarms = pipeline->ActiveAlarms(); alarms != 0) {
        if (absl::Status s = AlarmGate(alarms, request); !s.ok()) return done(s);
      }
      PendingWrite write;
      write.bytes = request.ByteSizeLong();
      write.request = std::move(request);
      write.response = response;
      write.header = header;
      write.leader_only = leader_only;
      write.done = std::move(done);
      pipeline->Submit(std::move(write));
    };
  };
  lease::Proposer proposer = make_proposer(false);
  // The lessor's own proposals (expiry revokes, checkpoints) are the leader's decisions: a leader
  // that stalled past its leases' TTLs wakes up believing it still leads, and its revokes must not
  // take effect once another member leads (and has been renewing those leases).
  lease::Proposer lessor_proposer = make_proposer(true);
  lease::LessorOptions lessor_options;
  lessor_options.election_timeout = std::chrono::milliseconds(config.election_timeout_ms);
  if (config.lease_checkpoint) {
    lessor_options.checkpoint_interval = std::chrono::milliseconds(config.lease_checkpoint_interval_ms);
  }
  p->lessor = std::make_unique<lease::Lessor>(lessor_options, lessor_proposer);
  p->lease_records = lease::StoreLeaseRecords(p->store.get());
  auth::AuthorityOptions authority_options;
  authority_options.token_ttl_seconds = config.auth_token_ttl_seconds;
  authority_options.lease_keys = [records = p->lease_records.get()](int64_t lease) {
    std::vector<std::string> keys;
    (void)records->KeysOf(lease, &keys);  // a lease that is gone has no keys to protect
    return keys;
  };
  p->authority = std::make_unique<auth::Authority>(std::move(authority_options));
  auth::Authority* authority = p->authority.get();
  mvcc::Store* auth_store = p->store.get();
  auto reload_auth = [authority, auth_store] {
    auto blob = auth_store->AuthState();
    absl::Status s = blob.ok() ? authority->Load(*blob) : blob.status();
    if (!s.ok()) std::fprintf(stderr, "cairnd: cannot load the auth state: %s\n", s.ToString().c_str());
    return s;
  };
  if (auto s = reload_auth(); !s.ok()) return s;
  p->watch->SetCreateCheck(
      [authority](const grpc::CallbackServerContext& context, const etcdserverpb::WatchCreateRequest& request) {
        absl::Status s = authority->AuthorizeWatch(context, request);
        return s.ok() ? s : absl::Status(s.code(), GoGrpcErrorText(s));
      });
  if (auto s = p->lessor->Recover(*p->lease_records); !s.ok()) return s;
  lease::LeaseServiceOptions lease_options;
  mvcc::Store* quota_store = p->store.get();
  lease_options.no_space = [pipeline, quota_store] {
    if (pipeline->NoSpaceAlarm()) return true;
    if (quota_store->HasRoomForLease()) return false;
    pipeline->RaiseNoSpace(nullptr);
    return true;
  };
  lease_options.alarm_refusal = [pipeline] {
    cairnpb::LogRequest grant;
    grant.mutable_lease_grant();
    return AlarmGate(pipeline->ActiveAlarms(), grant);
  };
  // etcd 3.4: a grant needs only a valid token (if any); a revoke needs write on the lease's keys.
  lease_options.authorize = [authority](const grpc::CallbackServerContext& context, int64_t lease) {
    return lease == 0 ? authority->AuthorizeAnyCaller(context) : authority->AuthorizeLeaseRevoke(context, lease);
  };
  p->lease = std::make_unique<lease::LeaseService>(p->lessor.get(), p->lease_records.get(), proposer, header,
                                                   lease_options);

  PipelineObservers observers;
  lease::Lessor* lessor = p->lessor.get();
  observers.on_lease_change = [lessor, metrics = p->metrics.get()](const LeaseChange& change) {
    metrics->CountLeaseChange(change);
    switch (change.kind) {
      case LeaseChange::kGranted:
        lessor->OnGranted(change.id, change.ttl);
        break;
      case LeaseChange::kRevoked:
        lessor->OnRevoked(change.id);
        break;
      case LeaseChange::kCheckpointed:
        lessor->OnCheckpoint(change.id, change.ttl);
        break;
    }
  };
  watch::WatchHub* hub = p->watch_hub.get();
  observers.wants_events = [hub] { return hub->WantsEvents(); };
  observers.on_events = [hub](std::vector<mvccpb::Event>&& events, bool built, int64_t revision) {
    if (built) {
      hub->Publish(std::move(events), revision);
    } else {
      hub->PublishWithoutEvents(revision);
    }
  };
  observers.on_compacted = [hub](int64_t revision) { hub->Compacted(revision); };
  observers.on_auth_changed = [reload_auth] { (void)reload_auth(); };
  p->pipeline->SetObservers(std::move(observers));
  PipelineHooks hooks;
  // Only the leader keeps lease deadlines. A member that starts leading gives every lease its full
  // TTL plus an election timeout from now, so neither a restart nor an election expires a fleet.
  const auto extend = std::chrono::milliseconds(config.election_timeout_ms);
  hooks.on_leadership = [lessor, extend](bool leading) {
    if (leading) {
      lessor->Promote(extend);
    } else {
      lessor->Demote();
    }
  };
  peer::PeerTransport* transport = p->transport.get();
  hooks.send = [transport](std::vector<cairnpb::Message> messages) { transport->Send(std::move(messages)); };
  const uint64_t self_id = header.member_id;
  auto peers = std::make_shared<std::set<uint64_t>>();
  hooks.on_membership = [transport, self_id, peers](const cairnpb::Membership& membership) {
    std::set<uint64_t> now;
    bool self_present = false;
    for (const cairnpb::MemberRecord& m : membership.members()) {
      if (m.id() == self_id) self_present = true;
      if (m.id() == self_id || m.peer_urls().empty()) continue;
      transport->AddPeer(m.id(), m.peer_urls(0));
      now.insert(m.id());
    }
    for (uint64_t gone : *peers) {
      if (!now.count(gone)) transport->RemovePeer(gone);
    }
    *peers = std::move(now);
    if (!self_present && !membership.members().empty()) {
      // Removed from the cluster (MemberRemove): like etcd, the member stops for good.
      std::fprintf(stderr, "cairnd: this member (%llx) was removed from the cluster; stopping\n",
                   static_cast<unsigned long long>(self_id));
      ::kill(::getpid(), SIGTERM);
    }
  };
  mvcc::Store* the_store = p->store.get();
  lease::LeaseRecords* lease_records = p->lease_records.get();
  hooks.on_store_replaced = [store = the_store, hub, lessor, lease_records, reload_auth](int64_t previous_revision) {
    (void)reload_auth();  // the image's users and roles
    // The leases known now are the image's; watchers get the image's changes since what they saw.
    (void)lessor->Recover(*lease_records);
    const std::string everything(1, '\0');
    int64_t from = previous_revision + 1;
    while (from <= store->CurrentRevision()) {
      std::vector<mvccpb::Event> events;
      int64_t next = from;
      if (!store->ReadEvents(everything, everything, from, 10000, &events, &next).ok()) {
        hub->Compacted(store->CompactedRevision());  // history gone: watchers that need it are told
        break;
      }
      if (!events.empty()) hub->Publish(std::move(events), next - 1);
      if (next <= from) break;
      from = next;
    }
  };
  p->pipeline->SetHooks(std::move(hooks));
  const std::string snap_dir = p->data_dir->SnapDir();
  p->transport->SetSnapshotSource([pipeline, snap_dir](const cairnpb::Message& message) {
    return pipeline->WriteSnapshotImage(message, snap_dir);
  });
  p->transport->SetSnapshotSink([pipeline](const cairnpb::Message& message, const std::string& path) {
    absl::Status s = pipeline->InstallSnapshot(message, path);
    std::error_code ec;
    std::filesystem::remove(path, ec);  // copied into the store (or refused): no longer needed
    return s;
  });
  p->lease->SetLeaderForwarder(p->lease_forwarder.get());
  p->transport->SetLeaseHandlers(answer_renew, answer_time_to_live);
  // As etcd: a restarting member (not a new one) checks itself against its peers before it joins in.
  if (config.initial_corrupt_check && !p->data_dir->created()) {
    if (auto s = CheckInitialHashKV(*p->store, p->pipeline->Membership(), hash_asker); !s.ok()) return s;
  }
  p->pipeline->Start();
  p->lessor->Start();

  KvLimits limits;
  limits.max_request_bytes = config.max_request_bytes;
  limits.max_txn_ops = config.max_txn_ops;
  MemberInfo self;
  self.name = config.name;
  self.peer_urls = config.initial_advertise_peer_urls;
  self.client_urls = config.advertise_client_urls;
  {
    metrics::GrpcServerMetrics* grpc_metrics = p->metrics->grpc();
    auto counter = [grpc_metrics](const char* method) {
      return metrics::MethodCounter(grpc_metrics->CountInService(std::string("/etcdserverpb.KV/") + method));
    };
    const KvCounters counters{counter("Range"), counter("Put"), counter("DeleteRange"), counter("Txn"),
                              counter("Compact")};
    p->kv = std::make_unique<KvService>(p->store.get(), p->pipeline.get(), limits, header, authority, counters);
  }
  p->maintenance = std::make_unique<MaintenanceService>(p->store.get(), p->pipeline.get(), header, snap_dir);
  p->maintenance->SetAuthority(authority);
  p->cluster = std::make_unique<ClusterService>(p->pipeline.get(), header, self);
  p->cluster->SetAuthority(authority);
  p->cluster->SetChangeCheck([checker = p->change_checker.get()](const cairnpb::ConfChange& change,
                                                                 std::function<void(absl::Status)> done) {
    checker->Check(change, std::move(done));
  });
  auth::AuthServiceHooks auth_hooks;
  auth_hooks.propose = proposer;
  auth_hooks.read_barrier = [pipeline](std::function<void(absl::Status)> done) {
    pipeline->ReadBarrier(std::move(done));
  };
  auth_hooks.stamp = [header, store = p->store.get()](etcdserverpb::ResponseHeader* h) {
    StampHeader(header, h);
    h->set_revision(store->CurrentRevision());
  };
  p->auth = std::make_unique<auth::AuthService>(authority, std::move(auth_hooks));
  p->unimplemented = std::make_unique<UnimplementedService>();

  if (auto s = StartClientServer(p.get(), config, *client_tls); !s.ok()) return s;
  if (auto s = StartPeerServer(p.get(), config, *peer_tls); !s.ok()) return s;

  StartRemovalWatch(p.get(), std::chrono::milliseconds(2 * config.election_timeout_ms));
  StartAutoCompactor(p.get(), config);
  if (config.corrupt_check_time_ms > 0) {
    p->corruption_monitor = MakeCorruptionMonitor(std::chrono::milliseconds(config.corrupt_check_time_ms),
                                                  p->pipeline.get(), p->store.get(), hash_asker);
    p->corruption_monitor->Start();
  }

  MemberMetricSources metric_sources;
  metric_sources.member_id = p->data_dir->member_id();
  metric_sources.quota_bytes = p->quota_bytes;
  metric_sources.store = p->store.get();
  metric_sources.pipeline = p->pipeline.get();
  metric_sources.wal = p->wal.get();
  metric_sources.lessor = p->lessor.get();
  metric_sources.transport = p->transport.get();
  p->metrics->Attach(metric_sources);
  for (const Endpoint& e : config.listen_metrics_urls) {
    auto http = HttpEndpoint::Start(e.host, e.port, MakeHttpProviders(p.get()));
    if (!http.ok()) return http.status();
    p->metrics_ports.push_back((*http)->port());
    p->http.push_back(std::move(*http));
  }
  return std::unique_ptr<Member>(new Member(std::move(p)));
}

// Auto-compaction proposes through the log like a client's Compact, on the leader only.
void Member::StartAutoCompactor(Parts* p, const Config& config) {
  const CompactionRetention& retention = config.auto_compaction;
  if (retention.mode == CompactionRetention::Mode::kOff) return;
  WritePipeline* pipeline = p->pipeline.get();
  mvcc::Store* store = p->store.get();
  const uint64_t self = p->data_dir->member_id();
  AutoCompactorHooks hooks;
  hooks.current_revision = [store] { return store->CurrentRevision(); };
  hooks.is_leader = [pipeline, self] { return pipeline->Leader() == self; };
  hooks.compact = [pipeline](int64_t revision) {
    cairnpb::LogRequest request;
    request.mutable_compaction()->set_revision(revision);
    etcdserverpb::CompactionResponse response;
    return pipeline->ProposeAndWait(std::move(request), &response);
  };
  std::fprintf(stderr, "cairnd: auto-compaction on: %s mode, retention %s\n", config.auto_compaction_mode.c_str(),
               DescribeRetention(retention).c_str());
  p->auto_compactor = std::make_unique<AutoCompactor>(retention, std::move(hooks));
  p->auto_compactor->Start();
}

// A member removed from the cluster may never apply its own removal: the leader stops sending it
// entries once the removal commits. So a member asks its peers for the membership now and then, and
// stops once one of them has recorded its removal (Membership.removed_ids; etcd's peers answer a
// removed member "410 Gone" the same way). That also stops old members brought back on their old
// data after --force-new-cluster, even when two of them elect a leader among themselves. A member
// that hears no leader asks every period, and also stops when the first peer that answers does not
// list it (a removal recorded before removed_ids existed); one that has a leader asks every
// kLedPeriods periods, and only an explicit removal counts (a lagging peer may not know it yet).
void Member::StartRemovalWatch(Parts* p, std::chrono::milliseconds period) {
  p->removal_watch = std::thread([p, period] {
    constexpr int kLedPeriods = 5;
    const uint64_t self = p->data_dir->member_id();
    const uint64_t cluster = p->data_dir->cluster_id();
    int periods = 0;
    std::unique_lock<std::mutex> lock(p->removal_watch_mu);
    while (!p->removal_watch_wake.wait_for(lock, period, [p] { return p->removal_watch_stop; })) {
      const bool leaderless = p->pipeline->Leader() == 0;
      if (!leaderless && ++periods % kLedPeriods != 0) continue;
      const cairnpb::Membership known = p->pipeline->Membership();
      lock.unlock();
      bool removed = false;
      for (const cairnpb::MemberRecord& m : known.members()) {
        if (m.id() == self || m.peer_urls().empty()) continue;
        auto answer = peer::FetchMembers(m.peer_urls(0), absl::Seconds(1), p->peer_dial_tls);
        if (!answer.ok() || answer->cluster_id() != cluster) continue;
        removed = WasRemoved(answer->membership(), self);
        if (removed) break;
        if (leaderless) {
          removed = answer->membership().members_size() > 0 && FindMember(answer->membership(), self) == nullptr;
          break;  // one member that answers is enough
        }
      }
      if (removed) {
        std::fprintf(stderr, "cairnd: this member (%llx) was removed from the cluster; stopping\n",
                     static_cast<unsigned long long>(self));
        ::kill(::getpid(), SIGTERM);
        return;
      }
      lock.lock();
    }
  });
}

void Member::Parts::Stop() {
  if (stopped) return;
  stopped = true;
  if (health) health->Shutdown();  // load balancers drain the member first
  // Open watch streams end first (UNAVAILABLE, as etcd's clients expect on a stopping server).
  if (watch) watch->Shutdown();
  if (lease) lease->Shutdown();
  // No expiry may be proposed while the pipeline drains.
  if (lessor) lessor->Stop();
  // Before the gRPC server stops: no connection may be handed to a stopping server, and the
  // gateway's calls into it end first.
  if (client_port) client_port->Stop();
  if (grpc_server) {
    // In-flight writes get a short grace period to be answered; then calls are cancelled.
    grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
  }
  if (pipeline) pipeline->Stop();
  // After the pipeline: a compaction it is waiting on is answered "server stopped" at once.
  if (auto_compactor) auto_compactor->Stop();
  if (corruption_monitor) corruption_monitor->Stop();
  if (grpc_server) grpc_server->Wait();
  if (watch_hub) watch_hub->Shutdown();
  {
    std::lock_guard<std::mutex> lock(removal_watch_mu);
    removal_watch_stop = true;
  }
  removal_watch_wake.notify_all();
  if (removal_watch.joinable()) removal_watch.join();
  if (lease_forwarder) lease_forwarder->Stop();
  // Peers' streams are long-lived: the transport ends them before the peer server shuts down.
  if (transport) transport->Stop();
  if (peer_server) peer_server->Shutdown(std::chrono::system_clock::now());
  http.clear();
}

void Member::Shutdown() {
  if (parts_ != nullptr) parts_->Stop();
}

}  // namespace cairn::server
