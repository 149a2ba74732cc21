#include "tools/ctl/table.h"

#include <algorithm>
#include <cctype>

namespace cairn::ctl {
namespace {

// Display width in runes (etcdctl's cells are ASCII or UTF-8 text without wide glyphs).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string HeaderTitle(const std::string& h) {
  std::string out;
  for (char c : h) out += (c == '_' || c == '.') ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  size_t b = out.find_first_not_of(' ');
  size_t e = out.find_last_not_of(' ');
  if (b == std::string::npos) return h.empty() ? "" : " ";
  return out.substr(b, e - b + 1);
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> titles;
  for (const auto& h : header) titles.push_back(HeaderTitle(h));
  std::vector<size_t> widths(titles.size(), 0);
  for (size_t i = 0; i < titles.size(); ++i) widths[i] = Width(titles[i]);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  std::string line = "+";
  for (size_t w : widths) line += std::string(w + 2, '-') + "+";
  line += "\n";

  std::string out = line + "|";
  for (size_t i = 0; i < titles.size(); ++i) {
    size_t gap = widths[i] - Width(titles[i]);
    size_t left = gap / 2;
    out += " " + std::string(left, ' ') + titles[i] + std::string(gap - left, ' ') + " |";
  }
  out += "\n" + line;
  for (const auto& row : rows) {
    out += "|";
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      out += " " + std::string(widths[i] - Width(cell), ' ') + cell + " |";
    }
    out += "\n";
  }
  out += line;
  return out;
}

}  // namespace cairn::ctl
