#include "server/watch/wire_response.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/impl/grpc_library.h>

#include <vector>

namespace cairn::watch {
namespace {

using google::protobuf::io::CodedOutputStream;

// WatchResponse field tags (field number << 3 | wire type).
constexpr uint8_t kHeaderTag = (1 << 3) | 2;
constexpr uint8_t kWatchIdTag = (2 << 3) | 0;
constexpr uint8_t kFragmentTag = (7 << 3) | 0;
constexpr uint8_t kEventsTag = (11 << 3) | 2;

}  // namespace

void EnsureSliceSupport() {
  // gRPC's C++ wrappers reach the core through a pointer that its library initializer sets; constructing
  // one is what every gRPC C++ object does on first use.
  static grpc::internal::GrpcLibraryInitializer initializer;
  (void)initializer;
}

size_t EventsEntryBytes(size_t event_message_bytes) {
  return 1 + CodedOutputStream::VarintSize64(event_message_bytes) + event_message_bytes;
}

uint8_t* WriteEventsEntryHeader(size_t event_message_bytes, uint8_t* out) {
  *out++ = kEventsTag;
  return CodedOutputStream::WriteVarint64ToArray(event_message_bytes, out);
}

WireResponse WireResponse::FromMessage(const etcdserverpb::WatchResponse& message) {
  EnsureSliceSupport();
  WireResponse out;
  const size_t n = message.ByteSizeLong();
  grpc::Slice slice(n);
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  out.Append(std::move(slice));
  return out;
}

size_t WireResponse::PrefixBytes(const etcdserverpb::ResponseHeader& header, int64_t watch_id, bool fragment) {
  const size_t header_bytes = header.ByteSizeLong();
  // Field order and omissions as protobuf writes them: proto3 leaves out zero scalars.
  size_t n = 1 + CodedOutputStream::VarintSize64(header_bytes) + header_bytes;
  if (watch_id != 0) n += 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(watch_id));
  if (fragment) n += 2;
  return n;
}

uint8_t* WireResponse::WritePrefix(const etcdserverpb::ResponseHeader& header, int64_t watch_id, bool fragment,
                                   uint8_t* p) {
  *p++ = kHeaderTag;
  p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(header.GetCachedSize()), p);
  p = header.SerializeWithCachedSizesToArray(p);
  if (watch_id != 0) {
    *p++ = kWatchIdTag;
    p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(watch_id), p);
  }
  if (fragment) {
    *p++ = kFragmentTag;
    *p++ = 1;
  }
  return p;
}

WireResponse WireResponse::WithPrefix(const etcdserverpb::ResponseHeader& header, int64_t watch_id,
                                      bool fragment) {
  EnsureSliceSupport();
  grpc::Slice slice(PrefixBytes(header, watch_id, fragment));
  WritePrefix(header, watch_id, fragment, const_cast<uint8_t*>(slice.begin()));
  WireResponse out;
  out.Append(std::move(slice));
  return out;
}

std::string WireResponse::Flatten() const {
  std::string out;
  out.reserve(bytes_);
  for (const auto& slice : slices_) out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return out;
}

bool WireResponse::ParseTo(etcdserverpb::WatchResponse* out) const { return out->ParseFromString(Flatten()); }

}  // namespace cairn::watch

namespace grpc {

Status SerializationTraits<cairn::watch::WireResponse, void>::Serialize(const cairn::watch::WireResponse& response,
                                                                        ByteBuffer* buffer, bool* own_buffer) {
  // The byte buffer takes its own references to the slices: no event byte is copied here.
  ByteBuffer wire(response.slices().data(), response.slices().size());
  buffer->Swap(&wire);
  *own_buffer = true;
  return Status::OK;
}

Status SerializationTraits<cairn::watch::WireResponse, void>::Deserialize(ByteBuffer* buffer,
                                                                          cairn::watch::WireResponse* response) {
  std::vector<Slice> slices;
  Status status = buffer->Dump(&slices);
  buffer->Clear();
  if (!status.ok()) return status;
  response->Clear();
  for (auto& slice : slices) response->Append(std::move(slice));
  return Status::OK;
}

}  // namespace grpc
