// The command table and what every command gets to run: parsed flags, positional
// arguments, the printer, and a lazily connected client. Commands end the process through
// Fail() with etcdctl's exit codes and "Error: ..." text; that is the contract scripts
// rely on, so it is decided here in one place.
// Single-threaded use except where a command starts its own threads (watch, service).
#ifndef CAIRN_TOOLS_CTL_COMMANDS_H_
#define CAIRN_TOOLS_CTL_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tools/ctl/client.h"
#include "tools/ctl/flags.h"
#include "tools/ctl/printer.h"

namespace cairn::ctl {

// etcdctl's exit codes.
inline constexpr int kExitSuccess = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitBadConnection = 2;
inline constexpr int kExitInvalidInput = 3;
inline constexpr int kExitBadFeature = 4;
inline constexpr int kExitInterrupted = 5;
inline constexpr int kExitIO = 6;
inline constexpr int kExitBadArgs = 128;

// Prints "Error: <message>" to stderr and exits with `code`.
[[noreturn]] void Fail(int code, const std::string& message);
// Fails with kExitBadFeature when the printer refused the format, else does nothing.
void CheckPrinted(const absl::Status& printed);

// A client for `config`, or exits with etcdctl's bad-connection error and code. Only
// authentication or TLS set-up can fail here: reachability is checked per call, so requests to an
// unreachable cluster wait for it (or their deadline), as etcdctl's do.
std::unique_ptr<Client> ConnectOrFail(const ClientConfig& config);
// A command_timeout_ns for requests that carry no deadline (etcdctl's context.TODO()).
inline constexpr int64_t kNoDeadlineNs = int64_t{365} * 24 * 3600 * 1'000'000'000;

struct Invocation {
  std::string path;  // "get", "lease grant", ...
  FlagSet* flags = nullptr;
  std::vector<std::string> args;
  std::vector<std::string> raw_args;  // argv after the program name (watch needs "--")
  Printer* printer = nullptr;
  ClientConfig client_config;

  // Connects on first use; exits with etcdctl's error and code when that fails.
  Client& client();
  std::unique_ptr<Client> connected;
};

using CommandFn = int (*)(Invocation&);

struct CommandDef {
  std::string path;  // space-separated words
  std::string usage;
  std::vector<FlagSpec> flags;
  CommandFn run;
};

void AddKvCommands(std::vector<CommandDef>* out);
void AddMaintenanceCommands(std::vector<CommandDef>* out);
void AddLeaseWatchCommands(std::vector<CommandDef>* out);
void AddAuthCommands(std::vector<CommandDef>* out);
void AddServiceCommands(std::vector<CommandDef>* out);
void AddConcurrencyCommands(std::vector<CommandDef>* out);
void AddMirrorCommands(std::vector<CommandDef>* out);
void AddCheckCommands(std::vector<CommandDef>* out);

// Shared by get/put/del and by txn's request lines: build one request from parsed flags
// and positional arguments, exiting like etcdctl on bad input.
etcdserverpb::RangeRequest BuildRange(const FlagSet& flags, const std::vector<std::string>& args);
etcdserverpb::PutRequest BuildPut(const FlagSet& flags, const std::vector<std::string>& args);
etcdserverpb::DeleteRangeRequest BuildDelete(const FlagSet& flags, const std::vector<std::string>& args);
// clientv3's prefix range end ("\0" when the key is all 0xff or empty).
std::string PrefixRangeEnd(const std::string& key);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_COMMANDS_H_
