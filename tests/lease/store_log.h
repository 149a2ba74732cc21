// A stand-in for cairnd's write pipeline in the lease tests: proposals are applied in order by one
// worker thread to a real mvcc::Store in a temp dir, and the lessor hears about grants and revokes
// after the commit and before the proposer is answered — the wiring the member must provide.
#pragma once

#include <stdlib.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "mvcc/store.h"
#include "server/lease/lease_errors.h"
#include "server/lease/lease_records.h"
#include "server/lease/lessor.h"

namespace cairn::lease::testing {

class StoreLog {
 public:
  StoreLog() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lease_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    mvcc::StoreOptions options;
    options.dir = dir_;
    options.no_sync = true;
    auto store = mvcc::Store::Open(options);
    if (!store.ok()) std::abort();
    store_ = std::move(*store);
    records_ = StoreLeaseRecords(store_.get());
    worker_ = std::thread([this] { Run(); });
  }

  ~StoreLog() {
    Stop();
    records_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Answers every later proposal with "server stopped", as the pipeline does once stopped.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
    for (auto& item : queue_) item.done(ErrStopped());
    queue_.clear();
  }

  void set_lessor(Lessor* lessor) { lessor_ = lessor; }
  mvcc::Store* store() { return store_.get(); }
  const LeaseRecords* records() const { return records_.get(); }

  Proposer AsProposer() {
    return [this](cairnpb::LogRequest request, google::protobuf::Message* response,
                  etcdserverpb::ResponseHeader* header, std::function<void(absl::Status)> done) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stopping_) {
          queue_.push_back(Item{std::move(request), response, header, std::move(done)});
          wake_.notify_one();
          return;
        }
      }
      done(ErrStopped());
    };
  }

  // Synchronous helper for test set-up: a put through the same log.
  absl::Status Put(const std::string& key, const std::string& value, int64_t lease) {
    cairnpb::LogRequest request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value(value);
    request.mutable_put()->set_lease(lease);
    etcdserverpb::PutResponse response;
    std::mutex m;
    std::condition_variable cv;
    bool finished = false;
    absl::Status result;
    AsProposer()(request, &response, response.mutable_header(), [&](absl::Status s) {
      std::lock_guard<std::mutex> lock(m);
      result = s;
      finished = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return finished; });
    return result;
  }

  // Live keys in [key, end) as of now.
  std::vector<std::string> Keys(const std::string& key, const std::string& end) {
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    request.set_range_end(end);
    request.set_keys_only(true);
    etcdserverpb::RangeResponse response;
    std::vector<std::string> out;
    if (!store_->Range(request, &response).ok()) return out;
    for (const auto& kv : response.kvs()) out.push_back(kv.key());
    return out;
  }

 private:
  struct Item {
    cairnpb::LogRequest request;
    google::protobuf::Message* response;
    etcdserverpb::ResponseHeader* header;
    std::function<void(absl::Status)> done;
  };

  void Run() {
    for (;;) {
      std::deque<Item> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        batch.swap(queue_);
      }
      for (Item& item : batch) Apply(item);
    }
  }

  void Apply(Item& item) {
    auto batch = store_->BeginWrite();
    absl::Status status;
    const cairnpb::LogRequest& r = item.request;
    if (r.has_put()) {
      etcdserverpb::PutResponse scratch;
      if (r.put().lease() != 0 && !batch->LeaseExists(r.put().lease())) {
        status = ErrLeaseNotFound();
      } else {
        auto* response = item.response ? static_cast<etcdserverpb::PutResponse*>(item.response) : &scratch;
        status = batch->Put(r.put(), response);
      }
    } else if (r.has_lease_grant()) {
      status = batch->LeaseGrant(r.lease_grant().id(), r.lease_grant().ttl());
    } else if (r.has_lease_revoke()) {
      etcdserverpb::LeaseRevokeResponse scratch;
      auto* response = item.response ? static_cast<etcdserverpb::LeaseRevokeResponse*>(item.response) : &scratch;
      status = batch->LeaseRevoke(r.lease_revoke().id(), response);
    } else {
      status = absl::InternalError("store_log: unexpected request");
    }
    absl::Status committed = batch->Commit();
    if (status.ok()) status = committed;
    if (status.ok() && lessor_ != nullptr) {
      if (r.has_lease_grant()) lessor_->OnGranted(r.lease_grant().id(), r.lease_grant().ttl());
      if (r.has_lease_revoke()) lessor_->OnRevoked(r.lease_revoke().id());
    }
    item.done(status);
  }

  std::string dir_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<LeaseRecords> records_;
  Lessor* lessor_ = nullptr;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace cairn::lease::testing
