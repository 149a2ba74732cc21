// One founding member's write pipeline over a store, with its WAL in a directory of its own and no
// gRPC: what the pipeline-level tests (auth revisions, alarms) drive. Start() opens the WAL (a
// restart replays what it holds), recovers and starts the pipeline; Stop() stops the pipeline and
// closes the WAL. The store stays the test's: it must outlive Stop().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/write_pipeline.h"

namespace cairn::testing {

class SingleMemberPipeline {
 public:
  ~SingleMemberPipeline() { Stop(); }

  absl::Status Start(mvcc::Store* store, const std::string& wal_dir) {
    wal::WalOptions wo;
    wo.dir = wal_dir;
    wo.segment_bytes = 1 << 20;
    std::vector<wal::Record> records;
    auto wal = wal::Wal::Open(wo, &records);
    if (!wal.ok()) return wal.status();
    wal_ = std::move(*wal);
    server::WritePipeline::Options po;
    po.header.member_id = 1;
    po.header.cluster_id = 2;
    po.tick = std::chrono::milliseconds(10);
    cairnpb::MemberRecord self;
    self.set_id(1);
    self.set_name("m1");
    self.add_peer_urls("http://127.0.0.1:1");
    po.founders = {self};
    po.self = self;
    pipeline_ = std::make_unique<server::WritePipeline>(wal_.get(), store, po);
    if (auto s = pipeline_->Recover(records); !s.ok()) return s;
    pipeline_->Start();
    return absl::OkStatus();
  }

  void Stop() {
    pipeline_.reset();
    wal_.reset();
  }

  // Submits `request` and waits for its outcome; `response` (of the request's type) is filled.
  absl::Status Submit(cairnpb::LogRequest request, google::protobuf::Message* response) {
    return pipeline_->ProposeAndWait(std::move(request), response);
  }

  server::WritePipeline* operator->() { return pipeline_.get(); }
  server::WritePipeline* get() { return pipeline_.get(); }

 private:
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<server::WritePipeline> pipeline_;
};

}  // namespace cairn::testing
