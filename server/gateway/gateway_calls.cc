#include "server/gateway/gateway_calls.h"

#include <grpcpp/generic/generic_stub.h>

#include <deque>

#include <google/protobuf/message.h>

#include "server/gateway/json_codec.h"

namespace cairn::gateway {
namespace {

using google::protobuf::Message;

std::unique_ptr<Message> NewMessage(const google::protobuf::Descriptor* type) {
  return std::unique_ptr<Message>(google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

grpc::ByteBuffer Serialize(const Message& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

bool Parse(const grpc::ByteBuffer& buffer, Message* out) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok() && !buffer.DumpToSingleSlice(&slice).ok()) return false;
  return out->ParseFromArray(slice.begin(), static_cast<int>(slice.size()));
}

void PrepareContext(grpc::ClientContext* context, const std::optional<std::string>& authorization) {
  if (authorization.has_value()) context->AddMetadata("authorization", *authorization);
}

}  // namespace

class GatewayCalls::UnaryCallState {
 public:
  UnaryCallState(GatewayCalls* owner, const google::protobuf::MethodDescriptor* method,
                 std::function<void(UnaryReply)> done)
      : owner(owner), response(NewMessage(method->output_type())), done(std::move(done)) {}
  GatewayCalls* owner;
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer reply;
  std::unique_ptr<Message> response;
  std::function<void(UnaryReply)> done;
};

class GatewayCalls::StreamCallState final : public StreamCall,
                                            public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCallState(GatewayCalls* owner, const Route& route, const google::protobuf::MethodDescriptor* method,
                  std::vector<grpc::ByteBuffer> requests, StreamHandlers handlers)
      : owner_(owner),
        route_(route),
        method_(method),
        response_(NewMessage(method->output_type())),
        handlers_(std::move(handlers)) {
    for (auto& r : requests) unsent_.push_back(std::move(r));
    close_when_drained_ = route.shape == CallShape::kServerStream;
  }

  grpc::ClientContext* context() { return &context_; }

  // The hold keeps OnDone back while the caller may still ask for the next result (Next() after
  // OnDone would start a read on a finished call); it is released when reading has ended.
  void Begin(std::shared_ptr<StreamCallState> self) {
    self_ = std::move(self);
    AddHold();
    read_pending_ = true;
    StartRead(&incoming_);
    WriteNextRequest();
    StartCall();
  }

  void Next() override { ReadIfIdle(); }

  void Cancel() override {
    context_.TryCancel();
    ReadIfIdle();  // a cancelled read fails at once and releases the hold
  }

  absl::Status Send(absl::string_view json) override {
    std::unique_ptr<Message> request = NewMessage(method_->input_type());
    absl::Status parsed = JsonToMessage(json, request.get());
    {
      absl::MutexLock lock(&mu_);
      if (sending_stopped_) return absl::OkStatus();
      if (!parsed.ok()) {
        // grpc-gateway stops reading the body and half-closes the call.
        sending_stopped_ = true;
        close_when_drained_ = true;
      } else {
        unsent_.push_back(Serialize(*request));
      }
    }
    WriteNextRequest();
    return parsed;
  }

  void CloseSend() override {
    {
      absl::MutexLock lock(&mu_);
      close_when_drained_ = true;
    }
    WriteNextRequest();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) {
        sending_stopped_ = true;  // the call is ending; OnDone reports why
        write_failed_ = true;
        return;
      }
      in_flight_.reset();
    }
    WriteNextRequest();
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      if (!ok) reading_ended_ = true;
    }
    if (!ok) {
      RemoveHold();
      return;
    }
    response_->Clear();
    if (!Parse(incoming_, response_.get())) {
      Cancel();
      return;
    }
    handlers_.on_result(StreamResultJson(*response_));
  }

  void OnDone(const grpc::Status& status) override {
    {
      // The handlers may hold whoever holds this call: let go of them now, and before the call
      // counts as finished (what they hold must not outlive ~GatewayCalls' wait).
      StreamHandlers handlers = std::move(handlers_);
      handlers_ = StreamHandlers();
      handlers.on_end(status);
    }
    owner_->UntrackStream(this);
    self_.reset();  // the caller may still hold the call; it is inert from here
  }

 private:
  void ReadIfIdle() {
    {
      absl::MutexLock lock(&mu_);
      if (read_pending_ || reading_ended_) return;
      read_pending_ = true;
    }
    StartRead(&incoming_);
  }

  // One write at a time, in order; the gRPC calls are made outside the lock (a reaction may run
  // inline).
  void WriteNextRequest() {
    grpc::ByteBuffer* next = nullptr;
    bool close_sending = false;
    {
      absl::MutexLock lock(&mu_);
      if (write_in_flight_) return;
      if (!unsent_.empty()) {
        in_flight_ = std::make_unique<grpc::ByteBuffer>(std::move(unsent_.front()));
        unsent_.pop_front();
        next = in_flight_.get();
        write_in_flight_ = true;
      } else if (close_when_drained_ && !writes_done_ && !write_failed_) {
        writes_done_ = true;
        close_sending = true;
      }
    }
    if (next != nullptr) {
      StartWrite(next);
    } else if (close_sending) {
      StartWritesDone();
    }
  }

  GatewayCalls* owner_;
  const Route& route_;
  grpc::ClientContext context_;
  const google::protobuf::MethodDescriptor* method_;
  std::unique_ptr<Message> response_;
  grpc::ByteBuffer incoming_;
  StreamHandlers handlers_;
  std::shared_ptr<StreamCallState> self_;
  absl::Mutex mu_;
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<grpc::ByteBuffer> unsent_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::ByteBuffer> in_flight_ ABSL_GUARDED_BY(mu_);  // must live until OnWriteDone
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool sending_stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  // WritesDone once `unsent_` is empty: from the start for a server stream, after CloseSend() or a
  // bad object for a bidi one.
  bool close_when_drained_ ABSL_GUARDED_BY(mu_) = false;
};

GatewayCalls::GatewayCalls(ChannelFactory channel) : channel_factory_(std::move(channel)) {}

GatewayCalls::~GatewayCalls() {
  CancelAll();
  WaitIdle();
}

void GatewayCalls::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &GatewayCalls::NothingLive));
}

grpc::GenericStub& GatewayCalls::Stub() {
  absl::MutexLock lock(&mu_);
  if (stub_ == nullptr) {
    stub_ = std::make_unique<grpc::GenericStub>(channel_factory_());
  }
  return *stub_;
}

void GatewayCalls::Track(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  live_.insert(context);
  if (cancelled_) context->TryCancel();
}

void GatewayCalls::Untrack(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  live_.erase(context);
}

void GatewayCalls::UntrackStream(StreamCallState* call) {
  absl::MutexLock lock(&mu_);
  streams_.erase(call);
}

bool GatewayCalls::NothingLive() const { return live_.empty() && streams_.empty(); }

void GatewayCalls::CancelAll() {
  std::vector<std::shared_ptr<StreamCallState>> streams;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* context : live_) context->TryCancel();
    for (auto& [raw, weak] : streams_) {
      if (auto call = weak.lock()) streams.push_back(std::move(call));
    }
  }
  // Outside the lock: a cancelled stream may finish inline and untrack itself.
  for (auto& call : streams) call->Cancel();
}

void GatewayCalls::Unary(const Route& route, const std::string& body, const std::optional<std::string>& authorization,
                         std::function<void(UnaryReply)> done) {
  const google::protobuf::MethodDescriptor* method = MethodOf(route);
  std::unique_ptr<Message> request = NewMessage(method->input_type());
  if (absl::Status s = JsonToMessage(body, request.get()); !s.ok()) {
    done(UnaryReply{400, ErrorJson(3, s.message())});
    return;
  }
  auto* call = new UnaryCallState(this, method, std::move(done));
  call->request = Serialize(*request);
  PrepareContext(&call->context, authorization);
  Track(&call->context);
  Stub().UnaryCall(&call->context, route.grpc_method, grpc::StubOptions(), &call->request, &call->reply,
                   [call](grpc::Status status) {
                     UnaryReply reply;
                     if (status.ok() && !Parse(call->reply, call->response.get())) {
                       status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse the response");
                     }
                     if (status.ok()) {
                       reply.json = MessageToJson(*call->response);
                     } else {
                       reply.http_status = HttpStatusForGrpcCode(status.error_code());
                       reply.json = ErrorJson(status.error_code(), status.error_message());
                     }
                     GatewayCalls* owner = call->owner;
                     {
                       // Destroyed before the call counts as finished: what the callback holds
                       // must not outlive ~GatewayCalls' wait.
                       std::function<void(UnaryReply)> done = std::move(call->done);
                       done(std::move(reply));
                     }
                     owner->Untrack(&call->context);
                     delete call;
                   });
}

absl::StatusOr<std::shared_ptr<StreamCall>> GatewayCalls::Stream(const Route& route, std::vector<std::string> requests,
                                                 const std::optional<std::string>& authorization, StreamHandlers handlers) {
  const google::protobuf::MethodDescriptor* method = MethodOf(route);
  std::vector<grpc::ByteBuffer> encoded;
  for (const std::string& json : requests) {
    std::unique_ptr<Message> request = NewMessage(method->input_type());
    if (absl::Status s = JsonToMessage(json, request.get()); !s.ok()) {
      // grpc-gateway: a server-streaming call's request is decoded before the call, as a unary
      // one's (InvalidArgument); a bidi stream's first object fails the call when read (not a
      // gRPC status: UNKNOWN); a bad later one only ends what is sent.
      if (route.shape == CallShape::kServerStream) return absl::InvalidArgumentError(s.message());
      if (encoded.empty()) return absl::UnknownError(s.message());
      break;
    }
    encoded.push_back(Serialize(*request));
    if (route.shape == CallShape::kServerStream) break;
  }
  if (route.shape == CallShape::kServerStream && encoded.empty()) {
    encoded.push_back(Serialize(*NewMessage(method->input_type())));  // an empty body: an empty request
  }
  auto call = std::make_shared<StreamCallState>(this, route, method, std::move(encoded), std::move(handlers));
  PrepareContext(call->context(), authorization);
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    streams_[call.get()] = call;
    cancelled = cancelled_;
  }
  Stub().PrepareBidiStreamingCall(call->context(), route.grpc_method, grpc::StubOptions(), call.get());
  call->Begin(call);
  if (cancelled) call->Cancel();
  return std::shared_ptr<StreamCall>(std::move(call));
}

}  // namespace cairn::gateway
