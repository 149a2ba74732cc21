// cairn::watch::EncodedBatch — one batch of events (a commit, or a catch-up read) in wire form, encoded once
// and shared by every watcher that receives any of them.
//
// Each event is stored as a complete `events` entry of a WatchResponse (field 11: tag, length, mvccpb.Event),
// back to back in one reference-counted buffer, so the events [begin, end) of a batch are one contiguous byte
// range that a response can reference without copying (Span()). A batch is encoded in up to two variants:
// "as published" (prev_kv kept where the store filled it) and "plain" (prev_kv dropped, for watchers that did
// not ask for it). When no event carries prev_kv the two are the same bytes.
//
// Immutable after Encode(); safe to share across threads. Indices are positions in the encoded vector.
#pragma once

#include <grpcpp/support/slice.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mvccpb/kv.pb.h"

namespace cairn::watch {

class EncodedBatch {
 public:
  // Which variants the watchers of this batch need; asking Span() for a variant not encoded is a bug.
  struct Needs {
    bool with_prev_kv = false;
    bool without_prev_kv = false;
  };

  static std::shared_ptr<const EncodedBatch> Encode(const std::vector<mvccpb::Event>& events, Needs needs);

  size_t size() const { return revisions_.size(); }
  int64_t revision(uint32_t index) const { return revisions_[index]; }

  // The `events` entries [begin, end) as one slice sharing this batch's memory.
  grpc::Slice Span(uint32_t begin, uint32_t end, bool prev_kv) const;
  // The same bytes, for copying (valid while the batch lives).
  const uint8_t* SpanData(uint32_t begin, bool prev_kv) const {
    const Variant& v = Pick(prev_kv);
    return v.bytes.begin() + v.offsets[begin];
  }
  // Bytes of those entries on the wire (tags and length prefixes included).
  size_t SpanBytes(uint32_t begin, uint32_t end, bool prev_kv) const;
  size_t EntryBytes(uint32_t index, bool prev_kv) const { return SpanBytes(index, index + 1, prev_kv); }
  // The size of the mvccpb.Event message alone (what Event::ByteSizeLong() would say).
  size_t EventBytes(uint32_t index, bool prev_kv) const;

 private:
  struct Variant {
    grpc::Slice bytes;
    std::vector<uint32_t> offsets;  // entry i is [offsets[i], offsets[i+1])
    std::vector<uint32_t> message_bytes;
  };
  const Variant& Pick(bool prev_kv) const { return prev_kv && has_full_ ? full_ : plain_; }

  std::vector<int64_t> revisions_;
  Variant plain_;        // prev_kv dropped; when no event has prev_kv, also the published form
  Variant full_;         // as published; only encoded when it differs from plain_ and is needed
  bool has_full_ = false;
};

}  // namespace cairn::watch
