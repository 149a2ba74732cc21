#include "tools/ctl/flags.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cairn::ctl {
namespace {

absl::Status CheckValue(const FlagSpec& spec, const std::string& value) {
  switch (spec.kind) {
    case FlagKind::kBool:
      if (value == "true" || value == "false" || value == "1" || value == "0" || value == "t" ||
          value == "f" || value == "TRUE" || value == "FALSE" || value == "True" ||
          value == "False" || value == "T" || value == "F") {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrCat("invalid argument \"", value, "\" for \"--",
                                                     spec.name, "\" flag: strconv.ParseBool: parsing \"",
                                                     value, "\": invalid syntax"));
    case FlagKind::kInt64: {
      int64_t v;
      if (absl::SimpleAtoi(value, &v)) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("invalid argument \"", value, "\" for \"--",
                                                     spec.name, "\" flag: strconv.ParseInt: parsing \"",
                                                     value, "\": invalid syntax"));
    }
    case FlagKind::kDuration: {
      auto d = ParseGoDuration(value);
      if (d.ok()) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("invalid argument \"", value, "\" for \"--",
                                                     spec.name, "\" flag: ", d.status().message()));
    }
    default:
      return absl::OkStatus();
  }
}

bool IsTrue(const std::string& v) {
  return v == "true" || v == "1" || v == "t" || v == "TRUE" || v == "True" || v == "T";
}

}  // namespace

void FlagSet::Add(const FlagSpec& spec) { specs_[spec.name] = spec; }

bool FlagSet::Has(const std::string& name) const { return specs_.count(name) > 0; }

const FlagSpec* FlagSet::FindLong(const std::string& name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

const FlagSpec* FlagSet::FindShort(const std::string& shorthand) const {
  for (const auto& [name, spec] : specs_) {
    if (!spec.shorthand.empty() && spec.shorthand == shorthand) return &spec;
  }
  return nullptr;
}

absl::Status FlagSet::Set(const std::string& name, const std::string& value) {
  const FlagSpec* spec = FindLong(name);
  if (spec == nullptr) return absl::InvalidArgumentError("unknown flag: --" + name);
  absl::Status st = CheckValue(*spec, value);
  if (!st.ok()) return st;
  auto& vals = values_[name];
  if (spec->kind == FlagKind::kStringSlice || spec->kind == FlagKind::kStringArray) {
    if (!changed_[name]) vals.clear();
    if (spec->kind == FlagKind::kStringSlice) {
      for (auto part : absl::StrSplit(value, ',')) vals.emplace_back(part);
    } else {
      vals.push_back(value);
    }
  } else {
    vals = {value};
  }
  changed_[name] = true;
  return absl::OkStatus();
}

absl::Status FlagSet::SetFromEnv(const std::string& name, const std::string& value) {
  if (Changed(name)) return absl::OkStatus();
  absl::Status st = Set(name, value);
  changed_[name] = false;  // environment values do not count as "given on the command line"
  return st;
}

bool FlagSet::Changed(const std::string& name) const {
  auto it = changed_.find(name);
  return it != changed_.end() && it->second;
}

bool FlagSet::GetBool(const std::string& name) const { return IsTrue(GetString(name)); }

std::string FlagSet::GetString(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && !it->second.empty()) return it->second.back();
  const FlagSpec* spec = FindLong(name);
  return spec ? spec->default_value : "";
}

int64_t FlagSet::GetInt64(const std::string& name) const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(GetString(name), &v);
  return v;
}

int64_t FlagSet::GetDurationNanos(const std::string& name) const {
  auto d = ParseGoDuration(GetString(name));
  return d.ok() ? *d : 0;
}

std::vector<std::string> FlagSet::GetSlice(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  const FlagSpec* spec = FindLong(name);
  std::vector<std::string> out;
  if (spec && !spec->default_value.empty()) {
    for (auto part : absl::StrSplit(spec->default_value, ',')) out.emplace_back(part);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseFlags(const std::vector<std::string>& args,
                                                    FlagSet& flags) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (size_t j = i + 1; j < args.size(); ++j) positional.push_back(args[j]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg[1] == '-') {
      std::string body = arg.substr(2);
      std::string name = body, value;
      bool has_value = false;
      if (auto eq = body.find('='); eq != std::string::npos) {
        name = body.substr(0, eq);
        value = body.substr(eq + 1);
        has_value = true;
      }
      const FlagSpec* spec = flags.FindLong(name);
      if (spec == nullptr) return absl::InvalidArgumentError("unknown flag: --" + name);
      if (!has_value) {
        if (spec->kind == FlagKind::kBool) {
          value = "true";
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return absl::InvalidArgumentError("flag needs an argument: --" + name);
        }
      }
      absl::Status st = flags.Set(name, value);
      if (!st.ok()) return st;
      continue;
    }
    // Shorthand cluster: -w json, -wjson, -i
    std::string shorts = arg.substr(1);
    for (size_t k = 0; k < shorts.size(); ++k) {
      std::string letter(1, shorts[k]);
      const FlagSpec* spec = flags.FindShort(letter);
      if (spec == nullptr) {
        return absl::InvalidArgumentError("unknown shorthand flag: '" + letter + "' in -" + shorts);
      }
      std::string value;
      if (spec->kind == FlagKind::kBool) {
        value = "true";
        if (k + 1 < shorts.size() && shorts[k + 1] == '=') {
          value = shorts.substr(k + 2);
          k = shorts.size();
        }
      } else {
        if (k + 1 < shorts.size()) {
          value = shorts.substr(shorts[k + 1] == '=' ? k + 2 : k + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return absl::InvalidArgumentError("flag needs an argument: '" + letter + "' in -" + shorts);
        }
        k = shorts.size();
      }
      absl::Status st = flags.Set(spec->name, value);
      if (!st.ok()) return st;
    }
  }
  return positional;
}

absl::StatusOr<int64_t> ParseGoDuration(const std::string& text) {
  std::string s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s = s.substr(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return absl::InvalidArgumentError("time: invalid duration \"" + text + "\"");
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return absl::InvalidArgumentError("time: invalid duration \"" + text + "\"");
    double number = std::stod(s.substr(start, i - start));
    size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(ustart, i - ustart);
    double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else if (unit.empty())
      return absl::InvalidArgumentError("time: missing unit in duration \"" + text + "\"");
    else
      return absl::InvalidArgumentError("time: unknown unit \"" + unit + "\" in duration \"" + text + "\"");
    total += number * scale;
  }
  int64_t nanos = static_cast<int64_t>(total);
  return negative ? -nanos : nanos;
}

}  // namespace cairn::ctl
