// Writes the format-2 fixture: a small store (format2.mdb) and the answers format 2's code gives
// to format2_queries.h's questions (format2_answers.txt). Built against the format-2 sources (see
// README.md); not part of the build. Usage: make_format2 OUT_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "mvcc/store.h"
#include "tests/mvcc/testdata/format2_queries.h"

using namespace cairn::mvcc;
using format2_fixture::LongKey;

namespace {

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s.ToString() << "\n";
    std::exit(1);
  }
}

etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value) {
  etcdserverpb::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value(value);
  return op;
}

etcdserverpb::RequestOp DeleteOp(const std::string& key) {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  return op;
}

// Each write in its own batch, like the server at low load.
class Writer {
 public:
  explicit Writer(Store* store) : store_(store) {}
  void Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    auto batch = store_->BeginWrite();
    Check(batch->Put(req, &resp), "put");
    Check(batch->Commit(), "commit");
  }
  void Delete(const std::string& key) {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    etcdserverpb::DeleteRangeResponse resp;
    auto batch = store_->BeginWrite();
    Check(batch->DeleteRange(req, &resp), "delete");
    Check(batch->Commit(), "commit");
  }
  void Txn(std::vector<etcdserverpb::RequestOp> ops) {
    etcdserverpb::TxnRequest req;
    for (auto& op : ops) *req.add_success() = op;
    etcdserverpb::TxnResponse resp;
    auto batch = store_->BeginWrite();
    Check(batch->Txn(req, &resp), "txn");
    Check(batch->Commit(), "commit");
  }
  void Grant(int64_t id, int64_t ttl) {
    auto batch = store_->BeginWrite();
    Check(batch->LeaseGrant(id, ttl), "grant");
    Check(batch->Commit(), "commit");
  }
  void Revoke(int64_t id) {
    etcdserverpb::LeaseRevokeResponse resp;
    auto batch = store_->BeginWrite();
    Check(batch->LeaseRevoke(id, &resp), "revoke");
    Check(batch->Commit(), "commit");
  }
  void Compact(int64_t rev) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(rev);
    etcdserverpb::CompactionResponse resp;
    auto batch = store_->BeginWrite();
    Check(batch->Compact(req, &resp), "compact");
    batch->SetApplied(100 + rev, 3);
    Check(batch->Commit(), "commit");
  }

 private:
  Store* store_;
};

void Answer(const Store& store, const std::string& phase, const std::vector<std::string>& queries,
            std::ofstream& out) {
  for (const std::string& q : queries) out << phase << "\t" << q << "\t" << format2_fixture::Answer(store, q) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_format2 OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path out_dir = argv[1];
  const std::filesystem::path work = out_dir / "store";
  std::filesystem::remove_all(work);
  StoreOptions options;
  options.dir = work.string();
  auto opened = Store::Open(options);
  Check(opened.status(), "open");
  std::unique_ptr<Store> store = std::move(*opened);
  Writer w(store.get());
  w.Grant(7, 60);
  w.Grant(8, 30);
  w.Put("a", "a1");                  // 2
  w.Put("b", "b1");                  // 3
  w.Put("a", "a2");                  // 4
  w.Delete("b");                     // 5
  w.Put("c", "c1", 7);               // 6
  w.Put("b", "b2");                  // 7  re-created
  w.Put(LongKey('1'), "x1", 8);      // 8  hashed stored key
  w.Txn({PutOp("a", "a3"), PutOp("d", "d1"), PutOp(LongKey('2'), "y1")});  // 9.0 9.1 9.2
  w.Put(LongKey('1'), "x2", 8);      // 10
  w.Delete("a");                     // 11
  w.Put("e", "e1", 7);               // 12
  w.Compact(7);
  while (true) {
    auto done = store->CompactStep(1000);
    Check(done.status(), "compact step");
    if (*done) break;
  }
  w.Put("a", "a4");                  // 13 re-created over a tombstone above the compaction
  w.Delete("d");                     // 14
  w.Put("c", "c2", 7);               // 15
  w.Revoke(8);                       // 16 deletes LongKey('1')
  w.Put("f", "f1");                  // 17
  w.Txn({PutOp("b", "b3"), DeleteOp("e")});  // 18.0 18.1
  w.Compact(11);                     // tombstone a@11 exactly at the compacted revision
  Check(store->CompactStep(2).status(), "compact step");  // left pending: the cursor is mid-way
  if (!store->CompactionPending()) {
    std::cerr << "expected a pending compaction\n";
    return 1;
  }

  std::ofstream answers(out_dir / "format2_answers.txt");
  const std::vector<std::string> queries = format2_fixture::Queries();
  Answer(*store, "pending", queries, answers);
  store.reset();
  std::filesystem::copy_file(work / "data.mdb", out_dir / "format2.mdb",
                             std::filesystem::copy_options::overwrite_existing);

  opened = Store::Open(options);
  Check(opened.status(), "reopen");
  store = std::move(*opened);
  while (true) {
    auto done = store->CompactStep(1000);
    Check(done.status(), "compact step");
    if (*done) break;
  }
  std::vector<std::string> done_queries = queries;
  done_queries.push_back("events 11");
  Answer(*store, "done", done_queries, answers);
  store.reset();
  std::filesystem::remove_all(work);
  return 0;
}
