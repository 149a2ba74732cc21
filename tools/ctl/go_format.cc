#include "tools/ctl/go_format.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace cairn::ctl {
namespace {

// Decodes one UTF-8 rune at s[i]; returns its length, or 0 when the bytes are not valid UTF-8.
int DecodeRune(const std::string& s, size_t i, uint32_t* rune) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *rune = c;
    return 1;
  }
  int len;
  uint32_t r;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    r = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    r = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    r = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    r = (r << 6) | (cc & 0x3F);
  }
  // Reject overlong forms and surrogates, as Go's decoder does.
  if ((len == 2 && r < 0x80) || (len == 3 && r < 0x800) || (len == 4 && r < 0x10000) ||
      r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) {
    return 0;
  }
  *rune = r;
  return len;
}

// Approximation of unicode.IsPrint for the non-ASCII range: control and format characters
// are escaped, everything else printed.
bool IsPrintRune(uint32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r >= 0x80 && r < 0xA0) return false;
  if (r == 0xAD) return false;
  if (r >= 0x2028 && r <= 0x2029) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;
  if (r == 0xFEFF || r == 0xFFFE || r == 0xFFFF) return false;
  return true;
}

}  // namespace

std::string GoQuote(const std::string& s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    uint32_t r;
    int len = DecodeRune(s, i, &r);
    if (len == 0) {
      out += absl::StrFormat("\\x%02x", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (IsPrintRune(r)) {
      out.append(s, i, len);
    } else {
      switch (r) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (r < 0x20 || r == 0x7F) out += absl::StrFormat("\\x%02x", r);
          else if (r < 0x10000) out += absl::StrFormat("\\u%04x", r);
          else out += absl::StrFormat("\\U%08x", r);
      }
    }
    i += len;
  }
  out += '"';
  return out;
}

absl::StatusOr<std::string> GoUnquote(const std::string& q) {
  auto bad = absl::InvalidArgumentError("invalid syntax");
  if (q.size() < 2) return bad;
  if (q.front() == '`') {
    if (q.back() != '`') return bad;
    return q.substr(1, q.size() - 2);
  }
  if (q.front() != '"' || q.back() != '"') return bad;
  std::string out;
  for (size_t i = 1; i + 1 < q.size(); ++i) {
    char c = q[i];
    if (c == '"' || c == '\n') return bad;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i + 1 > q.size() - 1) return bad;
    char e = q[i];
    auto hexval = [&](size_t n) -> absl::StatusOr<uint32_t> {
      if (i + n >= q.size()) return bad;
      uint32_t v = 0;
      for (size_t k = 1; k <= n; ++k) {
        char h = q[i + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) return bad;
        v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      i += n;
      return v;
    };
    auto put_rune = [&](uint32_t r) {
      if (r < 0x80) out += static_cast<char>(r);
      else if (r < 0x800) { out += static_cast<char>(0xC0 | (r >> 6)); out += static_cast<char>(0x80 | (r & 0x3F)); }
      else if (r < 0x10000) { out += static_cast<char>(0xE0 | (r >> 12)); out += static_cast<char>(0x80 | ((r >> 6) & 0x3F)); out += static_cast<char>(0x80 | (r & 0x3F)); }
      else { out += static_cast<char>(0xF0 | (r >> 18)); out += static_cast<char>(0x80 | ((r >> 12) & 0x3F)); out += static_cast<char>(0x80 | ((r >> 6) & 0x3F)); out += static_cast<char>(0x80 | (r & 0x3F)); }
    };
    switch (e) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case 'x': { auto v = hexval(2); if (!v.ok()) return bad; out += static_cast<char>(*v); break; }
      case 'u': { auto v = hexval(4); if (!v.ok()) return bad; put_rune(*v); break; }
      case 'U': { auto v = hexval(8); if (!v.ok()) return bad; put_rune(*v); break; }
      default:
        if (e >= '0' && e <= '7' && i + 2 < q.size()) {
          int v = 0;
          for (int k = 0; k < 3; ++k) {
            char o = q[i + k];
            if (o < '0' || o > '7') return bad;
            v = v * 8 + (o - '0');
          }
          if (v > 255) return bad;
          out += static_cast<char>(v);
          i += 2;
          break;
        }
        return bad;
    }
  }
  return out;
}

std::string Base64(const std::string& bytes) { return absl::Base64Escape(bytes); }

std::string HumanizeBytes(uint64_t s) {
  static const char* kSizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (s < 10) return absl::StrFormat("%d B", s);
  double e = std::floor(std::log(static_cast<double>(s)) / std::log(1000.0));
  double val = std::floor(static_cast<double>(s) / std::pow(1000.0, e) * 10 + 0.5) / 10;
  const char* suffix = kSizes[static_cast<int>(e)];
  if (val < 10) return absl::StrFormat("%.1f %s", val, suffix);
  return absl::StrFormat("%.0f %s", val, suffix);
}

std::string GoDurationString(int64_t d) {
  if (d == 0) return "0s";
  bool neg = d < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-d) : static_cast<uint64_t>(d);
  auto frac = [](uint64_t v, int prec, uint64_t* whole) {
    // Formats the fraction of v with `prec` digits, dropping trailing zeros.
    std::string digits;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
      int digit = static_cast<int>(v % 10);
      print = print || digit != 0;
      if (print) digits.insert(digits.begin(), static_cast<char>('0' + digit));
      v /= 10;
    }
    *whole = v;
    return digits.empty() ? std::string() : "." + digits;
  };
  std::string out;
  if (u < 1000000000ULL) {
    int prec;
    std::string unit;
    if (u < 1000) {
      return (neg ? "-" : "") + std::to_string(u) + "ns";
    } else if (u < 1000000) {
      prec = 3;
      unit = "\xC2\xB5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    uint64_t whole;
    std::string f = frac(u, prec, &whole);
    out = std::to_string(whole) + f + unit;
  } else {
    uint64_t whole;
    std::string f = frac(u, 9, &whole);
    uint64_t secs = whole % 60;
    uint64_t mins = whole / 60;
    out = std::to_string(secs) + f + "s";
    if (mins > 0) {
      uint64_t hours = mins / 60;
      out = std::to_string(mins % 60) + "m" + out;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return (neg ? "-" : "") + out;
}

std::string HexEscaped(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += absl::StrFormat("\\x%02x", c);
  return out;
}

absl::StatusOr<std::vector<std::string>> Argify(const std::string& line) {
  // Same token grammar as etcdctl: "(?:[^"\\]|\\.)*" | '[^']*' | [^'"\s]\S*[^'"\s]?
  std::vector<std::string> out;
  size_t i = 0, n = line.size();
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (i < n) {
    char c = line[i];
    if (c == '"') {
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        if (line[j] == '\\' && j + 1 < n) { j += 2; continue; }
        if (line[j] == '"') { closed = true; break; }
        ++j;
      }
      if (closed) {
        auto unq = GoUnquote(line.substr(i, j - i + 1));
        if (!unq.ok()) return absl::InvalidArgumentError("invalid syntax");
        out.push_back(*unq);
        i = j + 1;
        continue;
      }
      ++i;  // an unmatched quote is skipped, as the regexp would
      continue;
    }
    if (c == '\'') {
      size_t j = line.find('\'', i + 1);
      if (j != std::string::npos) {
        out.push_back(line.substr(i + 1, j - i - 1));
        i = j + 1;
        continue;
      }
      ++i;
      continue;
    }
    if (is_space(c)) { ++i; continue; }
    size_t j = i + 1;
    while (j < n && !is_space(line[j])) ++j;
    // The regexp's last character may not be a quote; a trailing quote starts a new token.
    std::string tok = line.substr(i, j - i);
    if (tok.size() > 1 && (tok.back() == '"' || tok.back() == '\'')) {
      tok.pop_back();
      j -= 1;
    }
    out.push_back(tok);
    i = j;
  }
  return out;
}

std::string Hex16(uint64_t v) { return absl::StrFormat("%016x", v); }
std::string HexPlain(uint64_t v) { return absl::StrFormat("%x", v); }

}  // namespace cairn::ctl
