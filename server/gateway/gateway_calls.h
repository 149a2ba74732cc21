// The v3 gateway's calls into the member's own gRPC services, over the server's in-process
// channel: JSON request objects in, JSON answers out (json_codec), the HTTP Authorization header
// passed on as the "authorization" metadata (as grpc-gateway does; auth reads it like "token").
//
// Thread safety: a GatewayCalls may be used from any thread. Completion callbacks run on gRPC
// threads and must not block. Every call started is finished before ~GatewayCalls returns
// (CancelAll(), then wait), so the callbacks never outlive their owner.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/gateway/routes.h"

namespace cairn::gateway {

struct UnaryReply {
  int http_status = 200;
  std::string json;  // the response, or grpc-gateway's error body
};

// A streaming call in progress: results are delivered one at a time; the next is read only after
// Next() (so a slow HTTP client holds the stream back instead of filling memory).
class StreamCall {
 public:
  virtual ~StreamCall() = default;
  virtual void Next() = 0;    // after each on_result, when the caller is ready for another
  virtual void Cancel() = 0;  // the HTTP client went away; on_end still follows
  // One more JSON request object for a bidi stream (a request body still arriving), sent after
  // those before it. Malformed JSON: InvalidArgument, and nothing more is sent on this stream (as
  // grpc-gateway stops reading a body it cannot decode).
  virtual absl::Status Send(absl::string_view json) = 0;
  // The request body has ended: the sending side is closed once what was sent is written (as
  // grpc-gateway does; a server that ends its stream at the client's EOF then ends it).
  virtual void CloseSend() = 0;
};

struct StreamHandlers {
  std::function<void(std::string result_json)> on_result;  // {"result":...}
  // Exactly once, last. OK: the server ended the stream.
  std::function<void(const grpc::Status&)> on_end;
};

class GatewayCalls {
 public:
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;
  // The factory is called on first use (the in-process channel exists once the server started).
  explicit GatewayCalls(ChannelFactory channel);
  ~GatewayCalls();  // cancels what is in flight and waits for the callbacks to finish

  // `body`: the request as JSON. Bad JSON answers at once (400, code 3) without a call.
  void Unary(const Route& route, const std::string& body, const std::optional<std::string>& authorization,
             std::function<void(UnaryReply)> done);

  // `requests`: the JSON objects of the body, sent in order. For a server-streaming route only
  // the first is used and the sending side is then closed; a bidi stream stays open for writes
  // until CloseSend() (the body's end), a bad object, or either side ending the call. Bad JSON in the
  // first object, no call: InvalidArgument for a server-streaming route (grpc-gateway answers 400,
  // code 3, as for a unary call), UNKNOWN for a bidi one (500, code 2); in a later object of a bidi
  // stream, the objects before it are sent.
  absl::StatusOr<std::shared_ptr<StreamCall>> Stream(const Route& route, std::vector<std::string> requests,
                                     const std::optional<std::string>& authorization, StreamHandlers handlers);

  // Cancels every call in flight and every call started from now on.
  void CancelAll();
  // Returns once no call is in flight.
  void WaitIdle();

 private:
  class UnaryCallState;
  class StreamCallState;
  grpc::GenericStub& Stub();
  void Track(grpc::ClientContext* context);
  void Untrack(grpc::ClientContext* context);
  void UntrackStream(StreamCallState* call);
  bool NothingLive() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ChannelFactory channel_factory_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::GenericStub> stub_ ABSL_GUARDED_BY(mu_);
  std::set<grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);  // unary calls
  std::map<StreamCallState*, std::weak_ptr<StreamCallState>> streams_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cairn::gateway
