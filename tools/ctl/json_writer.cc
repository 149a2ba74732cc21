#include "tools/ctl/json_writer.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "tools/ctl/go_format.h"

namespace cairn::ctl {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Fields added after etcd 3.4; etcdctl 3.4 cannot print them.
bool IsNewerThan34(const FieldDescriptor* f) {
  static const std::set<std::string> kNewer = {
      "etcdserverpb.StatusResponse.storageVersion",
      "etcdserverpb.HashKVResponse.hash_revision",
  };
  return kNewer.count(f->full_name()) > 0;
}

std::string GoFieldName(const std::string& proto_name) {
  std::string out;
  bool upper = true;
  for (char c : proto_name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

std::string ScalarJson(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
                       bool* empty) {
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      auto v = rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      auto v = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto v = rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      auto v = rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v = rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
      *empty = !v;
      return v ? "true" : "false";
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      *empty = v.empty();
      if (f->type() == FieldDescriptor::TYPE_BYTES) return "\"" + Base64(v) + "\"";
      return JsonString(v);
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      *empty = v == 0;
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      *empty = false;
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      return MessageJson(sub);
    }
  }
  *empty = true;
  return "";
}

}  // namespace

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '<': case '>': case '&': out += absl::StrFormat("\\u%04x", c); break;
        default:
          if (c < 0x20) out += absl::StrFormat("\\u%04x", c);
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Multi-byte: keep valid UTF-8, replace invalid bytes with U+FFFD, escape U+2028/9.
    int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool valid = len > 0 && i + len <= s.size();
    for (int k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (!valid) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    std::string rune = s.substr(i, len);
    if (rune == "\xE2\x80\xA8") out += "\\u2028";
    else if (rune == "\xE2\x80\xA9") out += "\\u2029";
    else out += rune;
    i += len;
  }
  out += "\"";
  return out;
}

std::string MessageJsonMembers(const Message& m) {
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  std::vector<std::string> parts;
  std::set<const google::protobuf::OneofDescriptor*> done_oneofs;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (IsNewerThan34(f)) continue;
    const auto* oneof = f->real_containing_oneof();
    if (oneof != nullptr) {
      if (done_oneofs.count(oneof)) continue;
      done_oneofs.insert(oneof);
      const FieldDescriptor* set = r->GetOneofFieldDescriptor(m, oneof);
      if (set == nullptr) continue;  // nil interface: Go prints null, but etcd never sends it
      bool empty;
      std::string v = ScalarJson(m, r, set, -1, &empty);
      parts.push_back(absl::StrCat(JsonString(GoFieldName(oneof->name())), ":{",
                                   JsonString(GoFieldName(set->name())), ":", v, "}"));
      continue;
    }
    if (f->is_repeated()) {
      int n = r->FieldSize(m, f);
      if (n == 0) continue;
      std::vector<std::string> items;
      for (int k = 0; k < n; ++k) {
        bool empty;
        items.push_back(ScalarJson(m, r, f, k, &empty));
      }
      parts.push_back(absl::StrCat(JsonString(f->name()), ":[", absl::StrJoin(items, ","), "]"));
      continue;
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !r->HasField(m, f)) continue;
    bool empty;
    std::string v = ScalarJson(m, r, f, -1, &empty);
    if (empty) continue;
    parts.push_back(absl::StrCat(JsonString(f->name()), ":", v));
  }
  return absl::StrJoin(parts, ",");
}

std::string MessageJson(const Message& m) { return "{" + MessageJsonMembers(m) + "}"; }

JsonObject& JsonObject::Raw(const std::string& key, const std::string& json) {
  parts_.push_back(JsonString(key) + ":" + json);
  return *this;
}

JsonObject& JsonObject::Members(const std::string& members) {
  if (!members.empty()) parts_.push_back(members);
  return *this;
}

std::string JsonObject::str() const { return "{" + absl::StrJoin(parts_, ",") + "}"; }

}  // namespace cairn::ctl
