#include "server/watch/encoded_events.h"

#include <google/protobuf/io/coded_stream.h>

#include "server/watch/wire_response.h"

namespace cairn::watch {
namespace {

using google::protobuf::io::CodedOutputStream;

// Event's own fields, written by hand for the plain variant so that no copy of the event is made.
constexpr uint8_t kEventTypeTag = (1 << 3) | 0;  // type, varint
constexpr uint8_t kEventKvTag = (2 << 3) | 2;    // kv, length-delimited

size_t PlainEventBytes(const mvccpb::Event& event) {
  size_t n = 0;
  if (event.type() != 0) n += 1 + CodedOutputStream::VarintSize32SignExtended(event.type());
  if (event.has_kv()) {
    const size_t kv = event.kv().ByteSizeLong();
    n += 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(kv)) + kv;
  }
  return n;
}

uint8_t* WritePlainEvent(const mvccpb::Event& event, uint8_t* p) {
  if (event.type() != 0) {
    *p++ = kEventTypeTag;
    p = CodedOutputStream::WriteVarint32SignExtendedToArray(event.type(), p);
  }
  if (event.has_kv()) {
    *p++ = kEventKvTag;
    p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(event.kv().GetCachedSize()), p);
    p = event.kv().SerializeWithCachedSizesToArray(p);
  }
  return p;
}

}  // namespace

std::shared_ptr<const EncodedBatch> EncodedBatch::Encode(const std::vector<mvccpb::Event>& events, Needs needs) {
  EnsureSliceSupport();
  auto batch = std::make_shared<EncodedBatch>();
  const size_t n = events.size();
  batch->revisions_.reserve(n);
  bool any_prev_kv = false;
  for (const auto& event : events) {
    batch->revisions_.push_back(event.kv().mod_revision());
    any_prev_kv |= event.has_prev_kv();
  }

  // Sizes first (this also fills protobuf's cached sizes that the writes below rely on).
  auto encode = [&](Variant* variant, bool full) {
    variant->message_bytes.resize(n);
    variant->offsets.resize(n + 1);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t message = full ? events[i].ByteSizeLong() : PlainEventBytes(events[i]);
      variant->message_bytes[i] = static_cast<uint32_t>(message);
      variant->offsets[i] = static_cast<uint32_t>(total);
      total += EventsEntryBytes(message);
    }
    variant->offsets[n] = static_cast<uint32_t>(total);
    variant->bytes = grpc::Slice(total);
    uint8_t* p = const_cast<uint8_t*>(variant->bytes.begin());
    for (size_t i = 0; i < n; ++i) {
      p = WriteEventsEntryHeader(variant->message_bytes[i], p);
      p = full ? events[i].SerializeWithCachedSizesToArray(p) : WritePlainEvent(events[i], p);
    }
  };

  if (!any_prev_kv || needs.without_prev_kv) encode(&batch->plain_, /*full=*/!any_prev_kv);
  if (any_prev_kv && needs.with_prev_kv) {
    encode(&batch->full_, /*full=*/true);
    batch->has_full_ = true;
  }
  return batch;
}

grpc::Slice EncodedBatch::Span(uint32_t begin, uint32_t end, bool prev_kv) const {
  const Variant& v = Pick(prev_kv);
  return v.bytes.sub(v.offsets[begin], v.offsets[end]);
}

size_t EncodedBatch::SpanBytes(uint32_t begin, uint32_t end, bool prev_kv) const {
  const Variant& v = Pick(prev_kv);
  return v.offsets[end] - v.offsets[begin];
}

size_t EncodedBatch::EventBytes(uint32_t index, bool prev_kv) const { return Pick(prev_kv).message_bytes[index]; }

}  // namespace cairn::watch
