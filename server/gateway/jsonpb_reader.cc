#include "server/gateway/jsonpb_reader.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "server/gateway/json_codec.h"

namespace cairn::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// A JSON value's kind as Go's errors name it.
const char* GoKind(absl::string_view value) {
  switch (value.empty() ? ' ' : value[0]) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't': case 'f': return "bool";
    default: return "number";
  }
}

absl::Status GoTypeError(absl::string_view value, absl::string_view go_type) {
  return absl::InvalidArgumentError(absl::StrCat("json: cannot unmarshal ", GoKind(value), " into Go value of type ", go_type));
}

// Go's name of a generated enum type: "etcdserverpb.RangeRequest_SortOrder".
std::string GoEnumName(const google::protobuf::EnumDescriptor* type) {
  const std::string& package = type->file()->package();
  std::string local = type->full_name().substr(package.empty() ? 0 : package.size() + 1);
  return absl::StrCat(package, package.empty() ? "" : ".", absl::StrReplaceAll(local, {{".", "_"}}));
}

// jsonpb also takes a field by its lowerCamel JSON name.
const FieldDescriptor* FieldByJsonName(const Descriptor* type, absl::string_view name) {
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == name) return type->field(i);
  }
  return nullptr;
}

// Go's quoting of one character in its JSON syntax errors: 'x', '\n', '\''.
std::string GoQuoteChar(char c) {
  switch (c) {
    case '\'': return "'\\''";
    case '"': return "'\"'";
    case '\\': return "'\\\\'";
    case '\n': return "'\\n'";
    case '\r': return "'\\r'";
    case '\t': return "'\\t'";
    default: break;
  }
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7f) return absl::StrFormat("'\\x%02x'", u);
  return absl::StrCat("'", std::string(1, c), "'");
}

// The text of a string literal that has been scanned as well-formed (quotes included).
std::string JsonUnescape(absl::string_view raw) {
  std::string out;
  for (size_t i = 1; i + 1 < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out.push_back(raw[i]);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        uint32_t cp = 0;
        for (int k = 1; k <= 4; ++k) {
          const char h = absl::ascii_tolower(static_cast<unsigned char>(raw[i + k]));
          cp = cp * 16 + static_cast<uint32_t>(absl::ascii_isdigit(static_cast<unsigned char>(h)) ? h - '0' : h - 'a' + 10);
        }
        i += 4;
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;  // surrogates: no field name or base64 has one
        if (cp < 0x80) {
          out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
          out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
          out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        break;
      }
      default: out.push_back(e);  // '"', '\\' or '/'
    }
  }
  return out;
}

// Where Go's padded standard base64 decoder stops on `text` (its "illegal base64 data at input
// byte N"), or npos when it decodes. Line breaks are skipped, as Go skips them.
size_t GoBase64Error(absl::string_view text) {
  const auto is_alphabet = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; };
  const auto is_break = [](char c) { return c == '\n' || c == '\r'; };
  size_t si = 0;
  while (true) {
    for (int j = 0; j < 4; ++j) {
      if (si == text.size()) {
        if (j == 0) return absl::string_view::npos;
        return si - j;  // a quantum cut short (padding is required)
      }
      const char c = text[si++];
      if (is_alphabet(c)) continue;
      if (is_break(c)) {
        --j;
        continue;
      }
      if (c != '=' || j < 2) return si - 1;
      if (j == 2) {  // "xx=" needs a second '='
        while (si < text.size() && is_break(text[si])) ++si;
        if (si == text.size()) return text.size();
        if (text[si] != '=') return si - 1;
        ++si;
      }
      while (si < text.size() && is_break(text[si])) ++si;
      if (si < text.size()) return si;  // nothing may follow the padding
      return absl::string_view::npos;
    }
  }
}

class JsonpbRewriter {
 public:
  explicit JsonpbRewriter(absl::string_view text) : text_(text) {}

  // The object at the start of the text, rewritten. Malformed JSON is refused in Go's words (the
  // first error as Go's scanner meets it, near enough), so nothing malformed reaches protobuf's
  // parser, which takes some (trailing commas, single quotes) that Go refuses.
  // Whether the text starts with a well-formed value (for a body that is not an object).
  absl::Status Scalar() {
    absl::string_view ignored;
    if (!Skip(&ignored)) return syntax_;
    return absl::OkStatus();
  }

  absl::Status Object(const Descriptor* type, std::string* out) {
    Blank();
    if (!ParseObject(type, out, status_) && syntax_.ok()) Fail("looking for beginning of value");
    if (!syntax_.ok()) return syntax_;
    return status_;
  }

 private:
  // Records the first syntax error at pos_; always returns false, for `return Fail(...)`.
  bool Fail(absl::string_view context) {
    if (!syntax_.ok()) return false;
    if (pos_ >= text_.size()) {
      syntax_ = absl::InvalidArgumentError("unexpected EOF");
    } else {
      syntax_ = absl::InvalidArgumentError(absl::StrCat("invalid character ", GoQuoteChar(text_[pos_]), " ", context));
    }
    return false;
  }

  void Blank() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool Consume(char c) {
    Blank();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // One string literal, raw (quotes included) and decoded.
  bool String(absl::string_view* raw, std::string* decoded) {
    Blank();
    if (pos_ >= text_.size() || text_[pos_] != '"') return false;
    const size_t start = pos_++;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) return Fail("");
        const char e = text_[pos_];
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            if (pos_ + i >= text_.size()) {
              pos_ += i;
              return Fail("");
            }
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(text_[pos_ + i]))) {
              pos_ += i;
              return Fail("in \\u hexadecimal character escape");
            }
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return Fail("in string escape code");
        }
      } else if (static_cast<unsigned char>(text_[pos_]) < 0x20) {
        return Fail("in string literal");
      }
      ++pos_;
    }
    if (pos_ >= text_.size()) return Fail("");
    ++pos_;
    *raw = text_.substr(start, pos_ - start);
    *decoded = JsonUnescape(*raw);
    return true;
  }

  bool Digits() {
    if (pos_ >= text_.size() || !absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      return Fail("in numeric literal");
    }
    while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return true;
  }

  // A number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool Number() {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!Digits()) {
      return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!Digits()) return false;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!Digits()) return false;
    }
    return true;
  }

  bool Literal(absl::string_view word) {
    for (size_t i = 0; i < word.size(); ++i, ++pos_) {
      if (pos_ >= text_.size() || text_[pos_] != word[i]) {
        return Fail(absl::StrCat("in literal ", word, " (expecting ", GoQuoteChar(word[i]), ")"));
      }
    }
    return true;
  }

  // Any value, skipped over: its raw text.
  bool Skip(absl::string_view* raw) {
    Blank();
    if (pos_ >= text_.size()) return Fail("");
    const size_t start = pos_;
    const char c = text_[pos_];
    if (c == '"') {
      std::string ignored;
      return String(raw, &ignored);
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      if (!Consume(close)) {
        do {
          absl::string_view part;
          if (c == '{') {
            std::string name;
            if (!String(&part, &name)) return Fail("looking for beginning of object key string");
            if (!Consume(':')) return Fail("after object key");
          }
          if (!Skip(&part)) return false;
        } while (Consume(','));
        if (!Consume(close)) return Fail(c == '{' ? "after object key:value pair" : "after array element");
      }
      *raw = text_.substr(start, pos_ - start);
      return true;
    }
    bool ok;
    if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      ok = Number();
    } else if (c == 't') {
      ok = Literal("true");
    } else if (c == 'f') {
      ok = Literal("false");
    } else if (c == 'n') {
      ok = Literal("null");
    } else {
      return Fail("looking for beginning of value");
    }
    if (!ok) return false;
    *raw = text_.substr(start, pos_ - start);
    return true;
  }

  bool ParseObject(const Descriptor* type, std::string* out, absl::Status& status) {
    if (!Consume('{')) return Fail("looking for beginning of value");
    // Each field once, as jsonpb takes it: by its lowerCamel name if the object has that, else by
    // its proto name; the last of repeated keys (a Go map). A null taken is a field left out.
    struct Member {
      const FieldDescriptor* field;
      bool camel;
      std::string text;  // "name":value, or empty for null
    };
    std::vector<Member> members;
    const auto take = [&members](const FieldDescriptor* field, bool camel, std::string text) {
      for (Member& m : members) {
        if (m.field != field) continue;
        if (camel || !m.camel) {
          m.camel = camel;
          m.text = std::move(text);
        }
        return;
      }
      members.push_back({field, camel, std::move(text)});
    };
    const auto emit = [&members, out] {
      out->push_back('{');
      bool first = true;
      for (const Member& m : members) {
        if (m.text.empty()) continue;
        if (!first) out->push_back(',');
        first = false;
        out->append(m.text);
      }
      out->push_back('}');
    };
    if (Consume('}')) {
      emit();
      return true;
    }
    do {
      absl::string_view raw_name;
      std::string name;
      if (!String(&raw_name, &name)) return Fail("looking for beginning of object key string");
      if (!Consume(':')) return Fail("after object key");
      const FieldDescriptor* field = type->FindFieldByName(name);
      bool camel = field != nullptr && field->json_name() == name;
      if (field == nullptr) {
        field = FieldByJsonName(type, name);
        camel = true;
      }
      Blank();
      const size_t value_start = pos_;
      absl::string_view raw;
      if (!Skip(&raw)) return false;
      if (field == nullptr || !status.ok()) continue;  // unknown, or the answer is an error already
      if (raw == "null") {
        take(field, camel, "");
        continue;
      }
      std::string value;
      if (field->is_repeated() && !field->is_map()) {
        if (raw[0] != '[') {
          status = GoTypeError(raw, "[]json.RawMessage");
          continue;
        }
        const size_t after = pos_;
        pos_ = value_start + 1;
        value.push_back('[');
        if (!Consume(']')) {
          do {
            if (value.size() > 1) value.push_back(',');
            if (!Element(field, &value, status)) return false;
          } while (Consume(','));
          if (!Consume(']')) return Fail("after array element");
        }
        value.push_back(']');
        pos_ = after;
      } else {
        const size_t after = pos_;
        pos_ = value_start;
        if (!Element(field, &value, status)) return false;
        pos_ = after;
      }
      take(field, camel, absl::StrCat("\"", field->name(), "\":", value));  // the name without its escapes
    } while (Consume(','));
    if (!Consume('}')) return Fail("after object key:value pair");
    emit();
    return true;
  }

  // One value of `field` (one element of a repeated field) at pos_, rewritten onto `out`. A value
  // jsonpb refuses sets `status` (the first such error is the answer) and is copied as it is.
  bool Element(const FieldDescriptor* field, std::string* out, absl::Status& status) {
    Blank();
    if (field->message_type() != nullptr && !field->is_map() && pos_ < text_.size() && text_[pos_] == '{') {
      return ParseObject(field->message_type(), out, status);
    }
    absl::string_view raw;
    if (!Skip(&raw)) return false;
    absl::Status problem = Check(field, raw, out);
    if (!problem.ok()) {
      if (status.ok()) status = problem;
      absl::StrAppend(out, raw);
    }
    return true;
  }

  // A scalar (or a message that is not an object): appends its rewrite on success.
  absl::Status Check(const FieldDescriptor* field, absl::string_view raw, std::string* out) {
    if (raw == "null") {  // an element of a list; protobuf's parser decides
      absl::StrAppend(out, raw);
      return absl::OkStatus();
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->is_map()) break;
        return GoTypeError(raw, "map[string]json.RawMessage");
      case FieldDescriptor::CPPTYPE_BOOL:
        if (raw != "true" && raw != "false") return GoTypeError(raw, "bool");
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        if (raw[0] == '[' && field->type() == FieldDescriptor::TYPE_BYTES) return BytesFromArray(raw, out);
        if (raw[0] != '"') return GoTypeError(raw, field->type() == FieldDescriptor::TYPE_BYTES ? "[]uint8" : "string");
        if (field->type() == FieldDescriptor::TYPE_BYTES) {
          const std::string text = JsonUnescape(raw);
          if (size_t at = GoBase64Error(text); at != absl::string_view::npos) {
            return absl::InvalidArgumentError(absl::StrCat("illegal base64 data at input byte ", at));
          }
          absl::StrAppend(out, JsonQuote(absl::StrReplaceAll(text, {{"\n", ""}, {"\r", ""}})));
          return absl::OkStatus();
        }
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        if (raw[0] == '"') {
          const std::string name(raw.substr(1, raw.size() - 2));
          if (field->enum_type()->FindValueByName(name) == nullptr) {
            return absl::InvalidArgumentError(
                absl::StrCat("unknown value ", raw, " for enum ", GoEnumName(field->enum_type())));
          }
          break;
        }
        // protobuf reads a quoted enum as a name: the number goes bare.
        return Integer(raw, "int32", out, /*quote=*/false, GoEnumName(field->enum_type()));
      case FieldDescriptor::CPPTYPE_INT32: return Integer(raw, "int32", out);
      case FieldDescriptor::CPPTYPE_UINT32: return Integer(raw, "uint32", out);
      case FieldDescriptor::CPPTYPE_INT64: return Integer(raw, "int64", out);
      case FieldDescriptor::CPPTYPE_UINT64: return Integer(raw, "uint64", out);
      default:
        break;
    }
    absl::StrAppend(out, raw);
    return absl::OkStatus();
  }

  // Go decodes a JSON array into []byte element by element, each a number that fits a byte.
  static absl::Status BytesFromArray(absl::string_view raw, std::string* out) {
    std::string bytes;
    absl::string_view inside = absl::StripAsciiWhitespace(raw.substr(1, raw.size() - 2));
    if (!inside.empty()) {
      // Elements are well-formed (scanned already); any that is not a number is refused, so a
      // comma inside one cannot matter past the first piece of it.
      for (absl::string_view element : absl::StrSplit(inside, ',')) {
        element = absl::StripAsciiWhitespace(element);
        if (element == "null") {
          bytes.push_back('\0');
          continue;
        }
        if (GoKind(element) != absl::string_view("number")) return GoTypeError(element, "uint8");
        uint32_t v;
        if (element.find_first_of(".eE") != absl::string_view::npos || !absl::SimpleAtoi(element, &v) || v > 255) {
          return absl::InvalidArgumentError(absl::StrCat("json: cannot unmarshal number ", element, " into Go value of type uint8"));
        }
        bytes.push_back(static_cast<char>(v));
      }
    }
    absl::StrAppend(out, "\"", absl::Base64Escape(bytes), "\"");
    return absl::OkStatus();
  }

  // jsonpb takes an integer as a number or as a quoted JSON document of its own (quotes dropped,
  // so blanks around it are fine); Go refuses a fraction, an exponent or a value out of range.
  // `go_type` is the range ("int64", "uint32", ...); `go_name`, if given, names it in errors.
  absl::Status Integer(absl::string_view raw, absl::string_view go_type, std::string* out, bool quote = true,
                       absl::string_view go_name = "") {
    if (go_name.empty()) go_name = go_type;
    absl::string_view number = raw;
    if (raw[0] == '"') {
      const absl::string_view inner = raw.substr(1, raw.size() - 2);
      JsonpbRewriter scan(inner);
      scan.Blank();
      if (scan.pos_ >= inner.size()) return absl::InvalidArgumentError("unexpected end of JSON input");
      if (!scan.Skip(&number)) {
        if (scan.syntax_.message() == "unexpected EOF") return absl::InvalidArgumentError("unexpected end of JSON input");
        return scan.syntax_;
      }
      scan.Blank();
      if (scan.pos_ < inner.size()) {
        scan.Fail("after top-level value");
        return scan.syntax_;
      }
    }
    if (GoKind(number) != absl::string_view("number")) return GoTypeError(number, go_name);
    bool fits = number.find_first_of(".eE") == absl::string_view::npos;
    if (fits && go_type == "int64") {
      int64_t v;
      fits = absl::SimpleAtoi(number, &v);
    } else if (fits && go_type == "uint64") {
      uint64_t v;
      fits = absl::SimpleAtoi(number, &v);
    } else if (fits && go_type == "int32") {
      int32_t v;
      fits = absl::SimpleAtoi(number, &v);
    } else if (fits) {
      uint32_t v;
      fits = absl::SimpleAtoi(number, &v);
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat("json: cannot unmarshal number ", number, " into Go value of type ", go_name));
    }
    absl::StrAppend(out, quote ? "\"" : "", number, quote ? "\"" : "");
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
  absl::Status syntax_;  // malformed JSON: the whole answer
  absl::Status status_;  // the first value jsonpb refuses
};

}  // namespace

absl::StatusOr<std::string> RewriteAsJsonpbReads(absl::string_view value, const google::protobuf::Descriptor* type) {
  if (value.empty() || value[0] != '{') {
    // Go checks the value's syntax before its type.
    if (absl::Status syntax = JsonpbRewriter(value).Scalar(); !syntax.ok()) return syntax;
    return GoTypeError(value, "map[string]json.RawMessage");
  }
  std::string rewritten;
  JsonpbRewriter rewriter(value);
  if (absl::Status refused = rewriter.Object(type, &rewritten); !refused.ok()) return refused;
  return rewritten;
}

}  // namespace cairn::gateway
