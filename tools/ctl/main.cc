// cairnctl entry point: resolves the command words, parses global and command flags
// (with CAIRNCTL_* and ETCDCTL_* environment fallbacks) and runs the command.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "server/discovery/srv_discovery.h"
#include "tools/ctl/commands.h"

namespace cairn::ctl {
namespace {

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"endpoints", "", FlagKind::kStringSlice, "127.0.0.1:2379"},
      {"debug", "", FlagKind::kBool, "false"},
      {"write-out", "w", FlagKind::kString, "simple"},
      {"hex", "", FlagKind::kBool, "false"},
      {"dial-timeout", "", FlagKind::kDuration, "2s"},
      {"command-timeout", "", FlagKind::kDuration, "5s"},
      {"keepalive-time", "", FlagKind::kDuration, "2s"},
      {"keepalive-timeout", "", FlagKind::kDuration, "6s"},
      {"insecure-transport", "", FlagKind::kBool, "true"},
      {"insecure-discovery", "", FlagKind::kBool, "true"},
      {"insecure-skip-tls-verify", "", FlagKind::kBool, "false"},
      {"cert", "", FlagKind::kString, ""},
      {"key", "", FlagKind::kString, ""},
      {"cacert", "", FlagKind::kString, ""},
      {"user", "", FlagKind::kString, ""},
      {"password", "", FlagKind::kString, ""},
      {"discovery-srv", "d", FlagKind::kString, ""},
      {"discovery-srv-name", "", FlagKind::kString, ""},
      {"help", "h", FlagKind::kBool, "false"},
  };
}

std::string EnvName(const std::string& prefix, const std::string& flag) {
  return prefix + "_" + absl::AsciiStrToUpper(absl::StrReplaceAll(flag, {{"-", "_"}}));
}

void ApplyEnvironment(FlagSet& flags) {
  for (const auto& spec : GlobalFlags()) {
    // CAIRNCTL_* wins over ETCDCTL_*; an explicit flag wins over both.
    for (const char* prefix : {"CAIRNCTL", "ETCDCTL"}) {
      const char* v = std::getenv(EnvName(prefix, spec.name).c_str());
      if (v == nullptr || flags.Changed(spec.name)) continue;
      absl::Status st = flags.SetFromEnv(spec.name, v);
      if (!st.ok()) Fail(kExitError, std::string(st.message()));
      break;
    }
  }
}

std::string AskPassword() {
  std::fputs("Password: ", stderr);
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fputs("\n", stderr);
  return line;
}

// etcdctl's --discovery-srv: the endpoints the domain's _etcd-client(-ssl) SRV records name. With
// --insecure-discovery=false, http:// ones are dropped and servers must present a certificate
// for the domain itself.
std::vector<std::string> DiscoveredEndpoints(const FlagSet& f, std::string* tls_server_name) {
  const std::string domain = f.GetString("discovery-srv");
  if (domain.empty()) return {};
  auto found = discovery::ClientEndpoints(domain, f.GetString("discovery-srv-name"));
  if (!found.ok()) Fail(kExitError, std::string(found.status().message()));
  if (f.GetBool("insecure-discovery")) return *found;
  *tls_server_name = domain;
  std::vector<std::string> secure;
  for (const std::string& ep : *found) {
    if (absl::StartsWith(ep, "http://")) {
      std::fprintf(stderr, "ignoring discovered insecure endpoint \"%s\"\n", ep.c_str());
      continue;
    }
    secure.push_back(ep);
  }
  return secure;
}

// Commands that work on files or print only never dial, so they ask no DNS (as etcdctl, which
// looks the records up only when it connects).
bool DialsAServer(const std::string& path) {
  return path != "version" && path != "snapshot status" && path != "snapshot restore" && path != "migrate";
}

ClientConfig ConfigFromFlags(const FlagSet& f, bool dials) {
  ClientConfig c;
  if (dials) c.endpoints = DiscoveredEndpoints(f, &c.tls_server_name);
  // As etcdctl: when discovery names nothing usable, --endpoints is used.
  if (c.endpoints.empty()) {
    for (auto ep : f.GetSlice("endpoints")) {
      c.endpoints.push_back(std::string(absl::StripAsciiWhitespace(ep)));
    }
  }
  c.dial_timeout_ns = f.GetDurationNanos("dial-timeout");
  c.command_timeout_ns = f.GetDurationNanos("command-timeout");
  c.keepalive_time_ns = f.GetDurationNanos("keepalive-time");
  c.keepalive_timeout_ns = f.GetDurationNanos("keepalive-timeout");
  for (const char* name : {"cert", "key", "cacert"}) {
    if (f.Changed(name) && f.GetString(name).empty()) {
      Fail(kExitBadArgs, std::string("empty string is passed to --") + name + " option");
    }
  }
  c.cert = f.GetString("cert");
  c.key = f.GetString("key");
  c.cacert = f.GetString("cacert");
  c.insecure_transport = f.GetBool("insecure-transport");
  c.insecure_skip_verify = f.GetBool("insecure-skip-tls-verify");
  c.debug = f.GetBool("debug");
  std::string user = f.GetString("user");
  if (!user.empty()) {
    std::string password = f.GetString("password");
    if (password.empty()) {
      std::vector<std::string> parts = absl::StrSplit(user, absl::MaxSplits(':', 1));
      if (parts.size() == 2) {
        user = parts[0];
        password = parts[1];
      } else {
        password = AskPassword();
      }
    }
    c.user = user;
    c.password = password;
  }
  return c;
}

int RunVersion(Invocation&) {
  Out("cairnctl version: 0.1.0\nAPI version: 3.4\n");
  return kExitSuccess;
}

void PrintUsage(const std::vector<CommandDef>& cmds) {
  std::string text =
      "NAME:\n\tcairnctl - A simple command line client for Cairn (etcd v3 API compatible).\n\n"
      "USAGE:\n\tcairnctl [flags] <command> [args]\n\nCOMMANDS:\n";
  for (const auto& c : cmds) text += "\t" + c.usage + "\n";
  text += "\nSee tools/ctl/README.md for flags and details.\n";
  std::fputs(text.c_str(), stdout);
}

}  // namespace

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

void CheckPrinted(const absl::Status& printed) {
  if (!printed.ok()) Fail(kExitBadFeature, std::string(printed.message()));
}

std::unique_ptr<Client> ConnectOrFail(const ClientConfig& config) {
  auto c = Client::Connect(config);
  if (!c.ok()) Fail(kExitBadConnection, std::string(c.status().message()));
  return std::move(*c);
}

Client& Invocation::client() {
  if (!connected) connected = ConnectOrFail(client_config);
  return *connected;
}

int Main(int argc, char** argv) {
  // gRPC's own log lines (handshake failures, reconnects) are not part of etcdctl's output;
  // a user who wants them can still set GRPC_VERBOSITY.
  setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  std::vector<CommandDef> cmds;
  AddKvCommands(&cmds);
  AddMaintenanceCommands(&cmds);
  AddLeaseWatchCommands(&cmds);
  AddAuthCommands(&cmds);
  AddServiceCommands(&cmds);
  AddConcurrencyCommands(&cmds);
  AddMirrorCommands(&cmds);
  AddCheckCommands(&cmds);
  cmds.push_back({"version", "version", {}, RunVersion});
  std::map<std::string, const CommandDef*> by_path;
  std::set<std::string> groups;
  for (const auto& c : cmds) {
    by_path[c.path] = &c;
    std::vector<std::string> words = absl::StrSplit(c.path, ' ');
    std::string prefix;
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      prefix += (i ? " " : "") + words[i];
      groups.insert(prefix);
    }
  }

  std::vector<std::string> raw(argv + 1, argv + argc);
  FlagSet flags;
  for (const auto& spec : GlobalFlags()) flags.Add(spec);

  // Find the command words among the leading positional arguments, skipping flags (and
  // the values of flags that take one) the way cobra does.
  std::string path;
  std::vector<std::string> rest;
  const CommandDef* cmd = nullptr;
  bool path_done = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& a = raw[i];
    if (a == "--") {
      rest.insert(rest.end(), raw.begin() + static_cast<long>(i), raw.end());
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      rest.push_back(a);
      const FlagSpec* spec = nullptr;
      if (a[1] == '-') {
        if (a.find('=') == std::string::npos) spec = flags.FindLong(a.substr(2));
      } else if (a.size() == 2) {
        spec = flags.FindShort(a.substr(1));
      }
      if (spec && spec->kind != FlagKind::kBool && i + 1 < raw.size()) rest.push_back(raw[++i]);
      continue;
    }
    if (!path_done) {
      std::string candidate = path.empty() ? a : path + " " + a;
      if (by_path.count(candidate) || groups.count(candidate)) {
        path = candidate;
        if (by_path.count(candidate) && !groups.count(candidate)) {
          cmd = by_path[candidate];
          for (const auto& spec : cmd->flags) flags.Add(spec);
          path_done = true;
        }
        continue;
      }
      path_done = true;
      if (path.empty()) Fail(kExitError, "unknown command \"" + a + "\" for \"cairnctl\"");
    }
    rest.push_back(a);
  }
  if (cmd == nullptr) {
    PrintUsage(cmds);
    return path.empty() && raw.empty() ? kExitSuccess : kExitSuccess;
  }

  auto positional = ParseFlags(rest, flags);
  if (!positional.ok()) Fail(kExitError, std::string(positional.status().message()));
  if (flags.GetBool("help")) {
    std::printf("Usage: cairnctl %s\n", cmd->usage.c_str());
    return kExitSuccess;
  }
  ApplyEnvironment(flags);

  auto format = ParseOutputFormat(flags.GetString("write-out"));
  if (!format.ok()) Fail(kExitBadFeature, "unsupported output format");
  Printer printer(*format, flags.GetBool("hex"));

  Invocation inv;
  inv.path = cmd->path;
  inv.flags = &flags;
  inv.args = *positional;
  inv.raw_args = raw;
  inv.printer = &printer;
  inv.client_config = ConfigFromFlags(flags, DialsAServer(cmd->path));
  int code = cmd->run(inv);
  std::fflush(stdout);
  return code;
}

}  // namespace cairn::ctl

int main(int argc, char** argv) { return cairn::ctl::Main(argc, argv); }
