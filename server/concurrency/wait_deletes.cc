#include "server/concurrency/wait_deletes.h"

#include <memory>

#include "server/concurrency/key_watch.h"
#include "server/concurrency/keys.h"

namespace cairn::concurrency {
namespace {

struct Waiter : std::enable_shared_from_this<Waiter> {
  Backend& backend;
  std::string prefix;
  int64_t max_create_revision;
  CallScope& scope;
  Completion<etcdserverpb::ResponseHeader> done;

  Waiter(Backend& b, std::string p, int64_t max, CallScope& s,
         Completion<etcdserverpb::ResponseHeader> d)
      : backend(b), prefix(std::move(p)), max_create_revision(max), scope(s), done(std::move(d)) {}

  void LookUpPredecessor() {
    backend.Range(NewestContenderUpTo(prefix, max_create_revision), scope,
                  [self = shared_from_this()](const grpc::Status& status,
                                              etcdserverpb::RangeResponse&& response) {
                    self->OnPredecessor(status, std::move(response));
                  });
  }

  void OnPredecessor(const grpc::Status& status, etcdserverpb::RangeResponse&& response) {
    if (!status.ok()) return done(status, {});
    if (response.kvs().empty()) {
      return done(grpc::Status::OK, std::move(*response.mutable_header()));
    }
    // Watching from the revision of the read that saw the key cannot miss its deletion.
    WatchForDelete(backend, response.kvs(0).key(), response.header().revision(), scope,
                   [self = shared_from_this()](const grpc::Status& status) {
                     if (!status.ok()) return self->done(status, {});
                     self->LookUpPredecessor();
                   });
  }
};

}  // namespace

void WaitForOlderContenders(Backend& backend, std::string prefix, int64_t max_create_revision,
                            CallScope& scope,
                            Completion<etcdserverpb::ResponseHeader> done) {
  std::make_shared<Waiter>(backend, std::move(prefix), max_create_revision, scope,
                           std::move(done))
      ->LookUpPredecessor();
}

}  // namespace cairn::concurrency
