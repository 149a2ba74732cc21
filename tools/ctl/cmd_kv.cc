// get, put, del, txn, compaction: request building mirrors etcdctl's option handling so
// the same words send the same request; output goes through Printer.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/go_format.h"

namespace cairn::ctl {
namespace {

using etcdserverpb::RangeRequest;

std::vector<FlagSpec> GetFlags() {
  return {{"consistency", "", FlagKind::kString, "l"},
          {"order", "", FlagKind::kString, ""},
          {"sort-by", "", FlagKind::kString, ""},
          {"limit", "", FlagKind::kInt64, "0"},
          {"prefix", "", FlagKind::kBool, "false"},
          {"from-key", "", FlagKind::kBool, "false"},
          {"rev", "", FlagKind::kInt64, "0"},
          {"keys-only", "", FlagKind::kBool, "false"},
          {"print-value-only", "", FlagKind::kBool, "false"}};
}

std::vector<FlagSpec> PutFlags() {
  return {{"lease", "", FlagKind::kString, "0"},
          {"prev-kv", "", FlagKind::kBool, "false"},
          {"ignore-value", "", FlagKind::kBool, "false"},
          {"ignore-lease", "", FlagKind::kBool, "false"}};
}

std::vector<FlagSpec> DelFlags() {
  return {{"prefix", "", FlagKind::kBool, "false"},
          {"prev-kv", "", FlagKind::kBool, "false"},
          {"from-key", "", FlagKind::kBool, "false"}};
}

// Reads all of stdin; etcdctl treats an empty stdin as "no argument".
bool ReadAllStdin(std::string* out) {
  std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (data.empty()) return false;
  *out = data;
  return true;
}

int RunGet(Invocation& inv) {
  RangeRequest req = BuildRange(*inv.flags, inv.args);
  auto resp = inv.client().Range(req);
  if (!resp.ok()) Fail(kExitError, std::string(resp.status().message()));
  if (inv.flags->GetBool("print-value-only")) {
    if (inv.printer->format() != OutputFormat::kSimple) {
      Fail(kExitBadArgs, "print-value-only is only for `--write-out=simple`");
    }
    inv.printer->set_value_only(true);
  }
  CheckPrinted(inv.printer->Get(*resp));
  return kExitSuccess;
}

int RunPut(Invocation& inv) {
  auto req = BuildPut(*inv.flags, inv.args);
  auto resp = inv.client().Put(req);
  if (!resp.ok()) Fail(kExitError, std::string(resp.status().message()));
  CheckPrinted(inv.printer->Put(*resp));
  return kExitSuccess;
}

int RunDel(Invocation& inv) {
  auto req = BuildDelete(*inv.flags, inv.args);
  auto resp = inv.client().DeleteRange(req);
  if (!resp.ok()) Fail(kExitError, std::string(resp.status().message()));
  CheckPrinted(inv.printer->Del(*resp));
  return kExitSuccess;
}

// ---------------------------------------------------------------- txn

// Reads one line including its "\n"; false at end of input (etcdctl: "Error: EOF").
bool ReadLine(std::string* line) {
  line->clear();
  int c;
  while ((c = std::getchar()) != EOF) {
    line->push_back(static_cast<char>(c));
    if (c == '\n') return true;
  }
  return false;
}

// Parses a quoted Go string at text[pos...] (as fmt.Sscanf's %q does).
bool ScanQuoted(const std::string& text, size_t* pos, std::string* out) {
  size_t i = *pos;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i >= text.size()) return false;
  char q = text[i];
  size_t j = i + 1;
  if (q == '`') {
    j = text.find('`', i + 1);
    if (j == std::string::npos) return false;
  } else if (q == '"') {
    while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
    if (j >= text.size()) return false;
  } else {
    return false;
  }
  auto unq = GoUnquote(text.substr(i, j - i + 1));
  if (!unq.ok()) return false;
  *out = *unq;
  *pos = j + 1;
  return true;
}

etcdserverpb::Compare ParseCompare(const std::string& line) {
  auto lparen = line.find('(');
  if (lparen == std::string::npos) Fail(kExitInvalidInput, "malformed comparison: " + line);
  std::string target = line.substr(0, lparen);
  std::string key, op, val;
  size_t pos = lparen + 1;
  bool ok = ScanQuoted(line, &pos, &key) && pos < line.size() && line[pos] == ')';
  if (ok) {
    ++pos;
    while (pos < line.size() && line[pos] == ' ') ++pos;
    size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
    op = line.substr(start, pos - start);
    ok = !op.empty() && ScanQuoted(line, &pos, &val);
  }
  if (!ok) {
    Fail(kExitInvalidInput, "malformed comparison: " + line + "; got " + target + "(" + GoQuote(key) + ") " + op +
                                " " + GoQuote(val));
  }
  etcdserverpb::Compare cmp;
  cmp.set_key(key);
  if (op == "=" || op == "==") cmp.set_result(etcdserverpb::Compare::EQUAL);
  else if (op == "!=") cmp.set_result(etcdserverpb::Compare::NOT_EQUAL);
  else if (op == "<") cmp.set_result(etcdserverpb::Compare::LESS);
  else if (op == ">") cmp.set_result(etcdserverpb::Compare::GREATER);
  else Fail(kExitInvalidInput, "Unknown result op");  // etcdctl panics here
  int64_t v = 0;
  auto need_int = [&]() {
    if (!absl::SimpleAtoi(val, &v)) Fail(kExitInvalidInput, "invalid txn compare request: " + line);
  };
  if (target == "ver" || target == "version") {
    need_int();
    cmp.set_target(etcdserverpb::Compare::VERSION);
    cmp.set_version(v);
  } else if (target == "c" || target == "create") {
    need_int();
    cmp.set_target(etcdserverpb::Compare::CREATE);
    cmp.set_create_revision(v);
  } else if (target == "m" || target == "mod") {
    need_int();
    cmp.set_target(etcdserverpb::Compare::MOD);
    cmp.set_mod_revision(v);
  } else if (target == "val" || target == "value") {
    cmp.set_target(etcdserverpb::Compare::VALUE);
    cmp.set_value(val);
  } else if (target == "lease") {
    need_int();
    cmp.set_target(etcdserverpb::Compare::LEASE);
    cmp.set_lease(v);
  } else {
    Fail(kExitInvalidInput, "malformed comparison: " + line + " (unknown target " + target + ")");
  }
  return cmp;
}

etcdserverpb::RequestOp ParseRequestOp(const std::string& line) {
  auto words = Argify(line);
  if (!words.ok()) Fail(kExitInvalidInput, "invalid syntax");
  if (words->size() < 2) Fail(kExitInvalidInput, "invalid txn compare request: " + line);
  std::string verb = (*words)[0];
  std::vector<std::string> rest(words->begin() + 1, words->end());
  FlagSet fs;
  std::vector<FlagSpec> specs = verb == "get" ? GetFlags() : verb == "put" ? PutFlags() : DelFlags();
  if (verb != "get" && verb != "put" && verb != "del") Fail(kExitInvalidInput, "invalid txn request: " + line);
  for (const auto& s : specs) fs.Add(s);
  fs.Add({"help", "h", FlagKind::kBool, "false"});
  auto args = ParseFlags(rest, fs);
  if (!args.ok()) Fail(kExitInvalidInput, "invalid txn request: " + line);
  etcdserverpb::RequestOp op;
  if (verb == "get") *op.mutable_request_range() = BuildRange(fs, *args);
  else if (verb == "put") *op.mutable_request_put() = BuildPut(fs, *args);
  else *op.mutable_request_delete_range() = BuildDelete(fs, *args);
  return op;
}

template <typename F>
void ReadSection(F&& each_line) {
  std::string line;
  while (true) {
    if (!ReadLine(&line)) Fail(kExitInvalidInput, "EOF");
    std::string trimmed(absl::StripAsciiWhitespace(line));
    if (trimmed.empty()) return;
    each_line(trimmed);
  }
}

int RunTxn(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "txn command does not accept argument");
  bool interactive = inv.flags->GetBool("interactive");
  auto prompt = [&](const char* s) {
    if (interactive) {
      std::printf("%s\n", s);
      std::fflush(stdout);
    }
  };
  etcdserverpb::TxnRequest req;
  prompt("compares:");
  ReadSection([&](const std::string& l) { *req.add_compare() = ParseCompare(l); });
  prompt("success requests (get, put, del):");
  ReadSection([&](const std::string& l) { *req.add_success() = ParseRequestOp(l); });
  prompt("failure requests (get, put, del):");
  ReadSection([&](const std::string& l) { *req.add_failure() = ParseRequestOp(l); });
  auto resp = inv.client().Txn(req);
  if (!resp.ok()) Fail(kExitError, std::string(resp.status().message()));
  CheckPrinted(inv.printer->Txn(*resp));
  return kExitSuccess;
}

int RunCompaction(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "compaction command needs 1 argument");
  int64_t rev;
  if (!absl::SimpleAtoi(inv.args[0], &rev)) {
    Fail(kExitError, "strconv.ParseInt: parsing " + GoQuote(inv.args[0]) + ": invalid syntax");
  }
  etcdserverpb::CompactionRequest req;
  req.set_revision(rev);
  req.set_physical(inv.flags->GetBool("physical"));
  auto resp = inv.client().Compact(req);
  if (!resp.ok()) Fail(kExitError, std::string(resp.status().message()));
  std::printf("compacted revision %lld\n", static_cast<long long>(rev));
  return kExitSuccess;
}

}  // namespace

std::string PrefixRangeEnd(const std::string& key) {
  std::string end = key;
  for (int i = static_cast<int>(end.size()) - 1; i >= 0; --i) {
    if (static_cast<unsigned char>(end[i]) < 0xff) {
      end[i] = static_cast<char>(static_cast<unsigned char>(end[i]) + 1);
      return end.substr(0, static_cast<size_t>(i) + 1);
    }
  }
  return std::string(1, '\0');
}

RangeRequest BuildRange(const FlagSet& f, const std::vector<std::string>& args) {
  if (args.empty()) Fail(kExitBadArgs, "get command needs one argument as key and an optional argument as range_end");
  bool prefix = f.GetBool("prefix"), from_key = f.GetBool("from-key");
  if (prefix && from_key) Fail(kExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  RangeRequest req;
  std::string consistency = f.GetString("consistency");
  if (consistency == "s") req.set_serializable(true);
  else if (consistency != "l") Fail(kExitBadFeature, "unknown consistency flag " + GoQuote(consistency));
  std::string key = args[0];
  if (args.size() > 1) {
    if (prefix || from_key) {
      Fail(kExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    }
    req.set_range_end(args[1]);
  }
  req.set_limit(f.GetInt64("limit"));
  if (f.GetInt64("rev") > 0) req.set_revision(f.GetInt64("rev"));
  std::string order = absl::AsciiStrToUpper(f.GetString("order"));
  auto sort_order = RangeRequest::NONE;
  if (order == "ASCEND") sort_order = RangeRequest::ASCEND;
  else if (order == "DESCEND") sort_order = RangeRequest::DESCEND;
  else if (!order.empty()) Fail(kExitBadFeature, "bad sort order " + f.GetString("order"));
  std::string target = absl::AsciiStrToUpper(f.GetString("sort-by"));
  auto sort_target = RangeRequest::KEY;
  if (target == "CREATE") sort_target = RangeRequest::CREATE;
  else if (target == "KEY") sort_target = RangeRequest::KEY;
  else if (target == "MODIFY") sort_target = RangeRequest::MOD;
  else if (target == "VALUE") sort_target = RangeRequest::VALUE;
  else if (target == "VERSION") sort_target = RangeRequest::VERSION;
  else if (!target.empty()) Fail(kExitBadFeature, "bad sort target " + f.GetString("sort-by"));
  // Sorting by key ascending is the server's natural order; the client asks for none.
  if (sort_target == RangeRequest::KEY && sort_order == RangeRequest::ASCEND) sort_order = RangeRequest::NONE;
  req.set_sort_order(sort_order);
  req.set_sort_target(sort_target);
  if (prefix) {
    if (key.empty()) {
      key = std::string(1, '\0');
      req.set_range_end(std::string(1, '\0'));
    } else {
      req.set_range_end(PrefixRangeEnd(key));
    }
  }
  if (from_key) {
    if (key.empty()) key = std::string(1, '\0');
    req.set_range_end(std::string(1, '\0'));
  }
  req.set_key(key);
  if (f.GetBool("keys-only")) req.set_keys_only(true);
  return req;
}

etcdserverpb::PutRequest BuildPut(const FlagSet& f, const std::vector<std::string>& args) {
  const char* need = "put command needs 1 argument and input from stdin or 2 arguments";
  if (args.empty()) Fail(kExitBadArgs, need);
  bool ignore_value = f.GetBool("ignore-value");
  if (ignore_value && args.size() > 1) Fail(kExitBadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  etcdserverpb::PutRequest req;
  req.set_key(args[0]);
  if (!ignore_value) {
    if (args.size() > 1) {
      req.set_value(args[1]);
    } else {
      std::string v;
      if (!ReadAllStdin(&v)) Fail(kExitBadArgs, need);
      req.set_value(v);
    }
  }
  std::string lease = f.GetString("lease");
  int64_t id = 0;
  if (!absl::SimpleHexAtoi(lease, &id) || lease.empty() || lease.find_first_of("xX") != std::string::npos) {
    Fail(kExitBadArgs, "bad lease ID (strconv.ParseInt: parsing " + GoQuote(lease) +
                           ": invalid syntax), expecting ID in Hex");
  }
  req.set_lease(id);
  req.set_prev_kv(f.GetBool("prev-kv"));
  req.set_ignore_value(ignore_value);
  req.set_ignore_lease(f.GetBool("ignore-lease"));
  return req;
}

etcdserverpb::DeleteRangeRequest BuildDelete(const FlagSet& f, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) {
    Fail(kExitBadArgs, "del command needs one argument as key and an optional argument as range_end");
  }
  bool prefix = f.GetBool("prefix"), from_key = f.GetBool("from-key");
  if (prefix && from_key) Fail(kExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  etcdserverpb::DeleteRangeRequest req;
  std::string key = args[0];
  if (args.size() > 1) {
    if (prefix || from_key) {
      Fail(kExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    }
    req.set_range_end(args[1]);
  }
  if (prefix) {
    if (key.empty()) {
      key = std::string(1, '\0');
      req.set_range_end(std::string(1, '\0'));
    } else {
      req.set_range_end(PrefixRangeEnd(key));
    }
  }
  req.set_prev_kv(f.GetBool("prev-kv"));
  if (from_key) {
    if (key.empty()) key = std::string(1, '\0');
    req.set_range_end(std::string(1, '\0'));
  }
  req.set_key(key);
  return req;
}

void AddKvCommands(std::vector<CommandDef>* out) {
  out->push_back({"get", "get [options] <key> [range_end]", GetFlags(), RunGet});
  out->push_back({"put", "put [options] <key> <value>", PutFlags(), RunPut});
  out->push_back({"del", "del [options] <key> [range_end]", DelFlags(), RunDel});
  out->push_back({"txn", "txn [options]", {{"interactive", "i", FlagKind::kBool, "false"}}, RunTxn});
  out->push_back({"compaction", "compaction [options] <revision>", {{"physical", "", FlagKind::kBool, "false"}},
                  RunCompaction});
}

}  // namespace cairn::ctl
