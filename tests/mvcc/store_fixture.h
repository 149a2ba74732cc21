// Shared fixture for the mvcc tests: a Store in a fresh temp dir, and one-request-per-batch helpers.
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "mvcc/store.h"

namespace cairn::mvcc::testing {

inline std::ostream& operator<<(std::ostream& os, const absl::Status& s) { return os << s.ToString(); }

// Writes `format` as the store format marker of the LMDB environment in `dir` (created if empty),
// as some other version of the store would have: for the tests of what Open refuses or converts.
inline void WriteFormatMarker(const std::string& dir, const std::string& format) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi meta;
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  MDB_val k{6, const_cast<char*>("format")}, v{format.size(), const_cast<char*>(format.data())};
  ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mvcc_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen(StoreOptions options = StoreOptions()) {
    store_.reset();
    options.dir = dir_;
    auto opened = Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  absl::Status TryPut(const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp = nullptr) {
    etcdserverpb::PutResponse scratch;
    auto batch = store_->BeginWrite();
    // Tests that attach leases mean leases that exist; the unknown-lease rule has its own test.
    if (req.lease() != 0 && !batch->LeaseExists(req.lease())) {
      EXPECT_TRUE(batch->LeaseGrant(req.lease(), 60).ok());
    }
    absl::Status s = batch->Put(req, resp ? resp : &scratch);
    absl::Status c = batch->Commit();
    return s.ok() ? c : s;
  }
  etcdserverpb::PutResponse Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    absl::Status s = TryPut(req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    return resp;
  }
  etcdserverpb::DeleteRangeResponse Delete(const std::string& key, const std::string& end = "", bool prev = false) {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_prev_kv(prev);
    etcdserverpb::DeleteRangeResponse resp;
    auto batch = store_->BeginWrite();
    absl::Status s = batch->DeleteRange(req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(batch->Commit().ok());
    return resp;
  }
  absl::Status TryTxn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp) {
    auto batch = store_->BeginWrite();
    absl::Status s = batch->Txn(req, resp);
    absl::Status c = batch->Commit();
    return s.ok() ? c : s;
  }
  etcdserverpb::TxnResponse Txn(const etcdserverpb::TxnRequest& req) {
    etcdserverpb::TxnResponse resp;
    absl::Status s = TryTxn(req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    return resp;
  }
  absl::Status Compact(int64_t rev) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(rev);
    etcdserverpb::CompactionResponse resp;
    auto batch = store_->BeginWrite();
    absl::Status s = batch->Compact(req, &resp);
    absl::Status c = batch->Commit();
    return s.ok() ? c : s;
  }
  void CompactFully(int64_t rev) {
    ASSERT_TRUE(Compact(rev).ok());
    FinishCompaction();
  }
  void FinishCompaction() {
    while (true) {
      auto done = store_->CompactStep(1000);
      ASSERT_TRUE(done.ok()) << done.status();
      if (*done) break;
    }
  }
  absl::Status TryRange(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp) {
    return store_->Range(req, resp);
  }
  etcdserverpb::RangeResponse Range(const etcdserverpb::RangeRequest& req) {
    etcdserverpb::RangeResponse resp;
    absl::Status s = store_->Range(req, &resp);
    EXPECT_TRUE(s.ok()) << s;
    return resp;
  }
  etcdserverpb::RangeResponse Get(const std::string& key, const std::string& end = "", int64_t rev = 0) {
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_revision(rev);
    return Range(req);
  }
  static std::vector<std::string> Keys(const etcdserverpb::RangeResponse& resp) {
    std::vector<std::string> keys;
    for (const auto& kv : resp.kvs()) keys.push_back(kv.key());
    return keys;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

inline etcdserverpb::Compare Cmp(const std::string& key, etcdserverpb::Compare::CompareTarget target,
                                 etcdserverpb::Compare::CompareResult result) {
  etcdserverpb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(result);
  return c;
}

inline etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value) {
  etcdserverpb::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value(value);
  return op;
}
inline etcdserverpb::RequestOp GetOp(const std::string& key, const std::string& end = "") {
  etcdserverpb::RequestOp op;
  op.mutable_request_range()->set_key(key);
  op.mutable_request_range()->set_range_end(end);
  return op;
}
inline etcdserverpb::RequestOp DeleteOp(const std::string& key, const std::string& end = "") {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  op.mutable_request_delete_range()->set_range_end(end);
  return op;
}

}  // namespace cairn::mvcc::testing
