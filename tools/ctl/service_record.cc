#include "tools/ctl/service_record.h"

#include <cctype>
#include <functional>

#include "absl/strings/str_join.h"
#include "tools/ctl/json_writer.h"

namespace cairn::ctl {
namespace {

// A deliberately small JSON reader: objects, strings, and skipping of other scalars.
class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}

  bool Object(const std::function<bool(const std::string& key)>& member) {
    Space();
    if (!Eat('{')) return false;
    Space();
    if (Eat('}')) return true;
    while (true) {
      std::string key;
      Space();
      if (!String(&key)) return false;
      Space();
      if (!Eat(':')) return false;
      Space();
      if (!member(key)) return false;
      Space();
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool String(std::string* out) {
    if (!Eat('"')) return false;
    out->clear();
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
        case 'n': out->push_back('\n'); break;
        case 't': out->push_back('\t'); break;
        case 'r': out->push_back('\r'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return false;
          unsigned v = std::stoul(s_.substr(pos_, 4), nullptr, 16);
          pos_ += 4;
          if (v < 0x80) {
            out->push_back(static_cast<char>(v));
          } else if (v < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (v >> 6)));
            out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (v >> 12)));
            out->push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
          }
          break;
        }
        default: out->push_back(e);
      }
    }
    return false;
  }

  // Skips a value that is not a string or object we care about.
  bool SkipValue() {
    Space();
    if (pos_ < s_.size() && s_[pos_] == '"') {
      std::string ignored;
      return String(&ignored);
    }
    if (pos_ < s_.size() && s_[pos_] == '{') return Object([&](const std::string&) { return SkipValue(); });
    if (pos_ < s_.size() && s_[pos_] == '[') {
      int depth = 0;
      while (pos_ < s_.size()) {
        char c = s_[pos_++];
        if (c == '[') ++depth;
        if (c == ']' && --depth == 0) return true;
      }
      return false;
    }
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '}') ++pos_;
    return true;
  }

  bool AtEnd() {
    Space();
    return pos_ == s_.size();
  }

 private:
  void Space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

std::string ServiceInstance::ToJson() const {
  std::vector<std::string> meta_parts;
  for (const auto& [k, v] : meta) meta_parts.push_back(JsonString(k) + ":" + JsonString(v));
  JsonObject o;
  o.Raw("name", JsonString(name)).Raw("id", JsonString(id)).Raw("address", JsonString(address));
  o.Raw("meta", "{" + absl::StrJoin(meta_parts, ",") + "}");
  return o.str();
}

std::string ServiceInstance::MetaText() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : meta) parts.push_back(k + "=" + v);
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<ServiceInstance> ServiceInstance::Parse(const std::string& key, const std::string& json) {
  ServiceInstance inst;
  std::string path = key.substr(key.rfind(kServicesPrefix, 0) == 0 ? sizeof(kServicesPrefix) - 1 : 0);
  auto slash = path.find('/');
  if (slash != std::string::npos) {
    inst.name = path.substr(0, slash);
    inst.id = path.substr(slash + 1);
  }
  Reader r(json);
  bool ok = r.Object([&](const std::string& member) {
    if (member == "name") return r.String(&inst.name);
    if (member == "id") return r.String(&inst.id);
    if (member == "address") return r.String(&inst.address);
    if (member == "meta") {
      return r.Object([&](const std::string& k) { return r.String(&inst.meta[k]); });
    }
    return r.SkipValue();
  });
  if (!ok || !r.AtEnd()) return absl::InvalidArgumentError("not a service instance record: " + key);
  return inst;
}

}  // namespace cairn::ctl
