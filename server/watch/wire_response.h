// cairn::watch::WireResponse — one etcdserverpb.WatchResponse already in wire form, as a list of slices.
//
// The watch service writes these instead of protobuf messages so that event bytes encoded once per batch
// (EncodedBatch) are shared by every watcher's response: a response is a small per-watcher prefix (header,
// watch_id, fragment — every field numbered below `events`, in field order) followed by slices of shared
// `events` entries. The bytes are exactly what WatchResponse::SerializeAsString() would produce for the same
// message, so any etcd client decodes them.
//
// gRPC sends a WireResponse through the SerializationTraits specialization below (the slices are referenced,
// not copied). A WireResponse is a value: copying it adds references to the same bytes. Not thread-safe to
// mutate concurrently; reading a const one from several threads is fine.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/impl/serialization_traits.h>
#include <grpcpp/support/slice.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::watch {

// Makes sure gRPC's C++ slice support is usable (it is set up lazily by gRPC; a process that has neither a
// server nor a channel yet, such as a unit test, needs this before creating grpc::Slice). Cheap; idempotent.
void EnsureSliceSupport();

// An `events` entry of a WatchResponse: field 11, length-delimited, then the mvccpb.Event message.
size_t EventsEntryBytes(size_t event_message_bytes);
uint8_t* WriteEventsEntryHeader(size_t event_message_bytes, uint8_t* out);

class WireResponse {
 public:
  WireResponse() = default;

  // A whole message, serialized into one slice (control responses: created, canceled, progress).
  static WireResponse FromMessage(const etcdserverpb::WatchResponse& message);
  // The fields before `events`: header (always present, as the protobuf path sets it), watch_id, fragment.
  static WireResponse WithPrefix(const etcdserverpb::ResponseHeader& header, int64_t watch_id, bool fragment);
  // The same prefix written into caller memory: its size (header.ByteSizeLong() must have been called, as
  // PrefixBytes does), then the bytes; WritePrefix returns the end.
  static size_t PrefixBytes(const etcdserverpb::ResponseHeader& header, int64_t watch_id, bool fragment);
  static uint8_t* WritePrefix(const etcdserverpb::ResponseHeader& header, int64_t watch_id, bool fragment,
                              uint8_t* out);

  void Append(grpc::Slice slice) {
    bytes_ += slice.size();
    slices_.push_back(std::move(slice));
  }

  size_t bytes() const { return bytes_; }
  const absl::InlinedVector<grpc::Slice, 4>& slices() const { return slices_; }
  void Clear() {
    slices_.clear();
    bytes_ = 0;
  }

  // The wire bytes in one string (tests, and the in-process paths that want a message).
  std::string Flatten() const;
  // Parses Flatten() into *out; false if the bytes are not a valid WatchResponse.
  bool ParseTo(etcdserverpb::WatchResponse* out) const;

 private:
  absl::InlinedVector<grpc::Slice, 4> slices_;
  size_t bytes_ = 0;
};

}  // namespace cairn::watch

namespace grpc {

template <>
class SerializationTraits<cairn::watch::WireResponse, void> {
 public:
  static Status Serialize(const cairn::watch::WireResponse& response, ByteBuffer* buffer, bool* own_buffer);
  // Only for completeness (the server never reads its own responses): parses nothing, fails.
  static Status Deserialize(ByteBuffer* buffer, cairn::watch::WireResponse* response);
};

}  // namespace grpc
