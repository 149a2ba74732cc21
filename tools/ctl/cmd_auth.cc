// user *, role *, auth enable|disable, with etcdctl's argument rules and password input.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "tools/ctl/commands.h"

namespace cairn::ctl {
namespace {

std::string ErrText(const absl::Status& s) { return std::string(s.message()); }

template <typename T>
T Must(absl::StatusOr<T> r) {
  if (!r.ok()) Fail(kExitError, ErrText(r.status()));
  return *std::move(r);
}

std::string AskHidden(const std::string& prompt) {
  Out(prompt);
  std::fflush(stdout);
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  Out("\n");
  if (!ok) Fail(kExitBadArgs, "failed to ask password: EOF");
  return line;
}

std::string ReadPassword(Invocation& inv, const std::string& user) {
  if (!inv.flags->GetBool("interactive")) {
    std::string token;
    std::cin >> token;  // like fmt.Scanf("%s"): one whitespace-delimited word
    return token;
  }
  std::string first = AskHidden("Password of " + user + ": ");
  if (first.empty()) Fail(kExitBadArgs, "empty password");
  std::string second = AskHidden("Type password of " + user + " again for confirmation: ");
  if (first != second) Fail(kExitBadArgs, "given passwords are different");
  return first;
}

int RunUserAdd(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "user add command requires user name as its argument");
  etcdserverpb::AuthUserAddRequest req;
  std::string user = inv.args[0], password;
  if (inv.flags->GetBool("no-password")) {
    req.mutable_options()->set_no_password(true);
  } else if (!inv.flags->GetString("new-user-password").empty()) {
    password = inv.flags->GetString("new-user-password");
  } else {
    std::vector<std::string> parts = absl::StrSplit(user, absl::MaxSplits(':', 1));
    if (parts.size() < 2) {
      password = ReadPassword(inv, user);
    } else {
      user = parts[0];
      password = parts[1];
      if (user.empty()) Fail(kExitBadArgs, "empty user name is not allowed");
    }
  }
  req.set_name(user);
  req.set_password(password);
  if (!req.has_options()) req.mutable_options();  // clientv3 always sends the options
  CheckPrinted(inv.printer->UserAdd(user, Must(inv.client().UserAdd(req))));
  return kExitSuccess;
}

int RunUserDelete(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "user delete command requires user name as its argument");
  etcdserverpb::AuthUserDeleteRequest req;
  req.set_name(inv.args[0]);
  CheckPrinted(inv.printer->UserDelete(inv.args[0], Must(inv.client().UserDelete(req))));
  return kExitSuccess;
}

int RunUserGet(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "user get command requires user name as its argument");
  etcdserverpb::AuthUserGetRequest req;
  req.set_name(inv.args[0]);
  const auto& resp = Must(inv.client().UserGet(req));
  if (inv.flags->GetBool("detail")) {
    Out("User: " + inv.args[0] + "\n");
    for (const auto& role : resp.roles()) {
      Out("\n");
      etcdserverpb::AuthRoleGetRequest rr;
      rr.set_role(role);
      CheckPrinted(inv.printer->RoleGet(role, Must(inv.client().RoleGet(rr))));
    }
    return kExitSuccess;
  }
  CheckPrinted(inv.printer->UserGet(inv.args[0], resp));
  return kExitSuccess;
}

int RunUserList(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "user list command requires no arguments");
  CheckPrinted(inv.printer->UserList(Must(inv.client().UserList(etcdserverpb::AuthUserListRequest()))));
  return kExitSuccess;
}

int RunUserPasswd(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "user passwd command requires user name as its argument");
  etcdserverpb::AuthUserChangePasswordRequest req;
  req.set_name(inv.args[0]);
  req.set_password(ReadPassword(inv, inv.args[0]));
  CheckPrinted(inv.printer->UserChangePassword(Must(inv.client().UserChangePassword(req))));
  return kExitSuccess;
}

int RunUserGrantRole(Invocation& inv) {
  if (inv.args.size() != 2) Fail(kExitBadArgs, "user grant command requires user name and role name as its argument");
  etcdserverpb::AuthUserGrantRoleRequest req;
  req.set_user(inv.args[0]);
  req.set_role(inv.args[1]);
  CheckPrinted(inv.printer->UserGrantRole(inv.args[0], inv.args[1], Must(inv.client().UserGrantRole(req))));
  return kExitSuccess;
}

int RunUserRevokeRole(Invocation& inv) {
  if (inv.args.size() != 2) Fail(kExitBadArgs, "user revoke-role requires user name and role name as its argument");
  etcdserverpb::AuthUserRevokeRoleRequest req;
  req.set_name(inv.args[0]);
  req.set_role(inv.args[1]);
  CheckPrinted(inv.printer->UserRevokeRole(inv.args[0], inv.args[1], Must(inv.client().UserRevokeRole(req))));
  return kExitSuccess;
}

int RunRoleAdd(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "role add command requires role name as its argument");
  etcdserverpb::AuthRoleAddRequest req;
  req.set_name(inv.args[0]);
  CheckPrinted(inv.printer->RoleAdd(inv.args[0], Must(inv.client().RoleAdd(req))));
  return kExitSuccess;
}

int RunRoleDelete(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "role delete command requires role name as its argument");
  etcdserverpb::AuthRoleDeleteRequest req;
  req.set_role(inv.args[0]);
  CheckPrinted(inv.printer->RoleDelete(inv.args[0], Must(inv.client().RoleDelete(req))));
  return kExitSuccess;
}

int RunRoleGet(Invocation& inv) {
  if (inv.args.size() != 1) Fail(kExitBadArgs, "role get command requires role name as its argument");
  etcdserverpb::AuthRoleGetRequest req;
  req.set_role(inv.args[0]);
  CheckPrinted(inv.printer->RoleGet(inv.args[0], Must(inv.client().RoleGet(req))));
  return kExitSuccess;
}

int RunRoleList(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "role list command requires no arguments");
  CheckPrinted(inv.printer->RoleList(Must(inv.client().RoleList(etcdserverpb::AuthRoleListRequest()))));
  return kExitSuccess;
}

// etcdctl's permRange: the key and range end that --prefix / --from-key / [endkey] mean.
std::pair<std::string, std::string> PermRange(Invocation& inv, const std::vector<std::string>& args) {
  bool prefix = inv.flags->GetBool("prefix"), from_key = inv.flags->GetBool("from-key");
  std::string key = args[0];
  if (key.empty()) {
    if (prefix && from_key) Fail(kExitBadArgs, "--from-key and --prefix flags are mutually exclusive");
    // The whole key space is ["\0", "\0") on the server side.
    return {std::string(1, '\0'), prefix || from_key ? std::string(1, '\0') : ""};
  }
  if (args.size() == 1) {
    if (prefix) {
      if (from_key) Fail(kExitBadArgs, "--from-key and --prefix flags are mutually exclusive");
      return {key, PrefixRangeEnd(key)};
    }
    if (from_key) return {key, std::string(1, '\0')};
    return {key, ""};
  }
  if (prefix) Fail(kExitBadArgs, "unexpected endkey argument with --prefix flag");
  if (from_key) Fail(kExitBadArgs, "unexpected endkey argument with --from-key flag");
  return {key, args[1]};
}

int RunRoleGrantPermission(Invocation& inv) {
  if (inv.args.size() < 3) {
    Fail(kExitBadArgs, "role grant command requires role name, permission type, and key [endkey] as its argument");
  }
  authpb::Permission::Type type;
  if (!authpb::Permission::Type_Parse(absl::AsciiStrToUpper(inv.args[1]), &type)) {
    Fail(kExitBadArgs, "invalid permission type: " + inv.args[1]);
  }
  auto [key, end] = PermRange(inv, std::vector<std::string>(inv.args.begin() + 2, inv.args.end()));
  etcdserverpb::AuthRoleGrantPermissionRequest req;
  req.set_name(inv.args[0]);
  req.mutable_perm()->set_permtype(type);
  req.mutable_perm()->set_key(key);
  req.mutable_perm()->set_range_end(end);
  CheckPrinted(inv.printer->RoleGrantPermission(inv.args[0], Must(inv.client().RoleGrantPermission(req))));
  return kExitSuccess;
}

int RunRoleRevokePermission(Invocation& inv) {
  if (inv.args.size() < 2) {
    Fail(kExitBadArgs, "role revoke-permission command requires role name and key [endkey] as its argument");
  }
  auto [key, end] = PermRange(inv, std::vector<std::string>(inv.args.begin() + 1, inv.args.end()));
  etcdserverpb::AuthRoleRevokePermissionRequest req;
  req.set_role(inv.args[0]);
  req.set_key(key);
  req.set_range_end(end);
  CheckPrinted(
      inv.printer->RoleRevokePermission(inv.args[0], inv.args[1], end, Must(inv.client().RoleRevokePermission(req))));
  return kExitSuccess;
}

int RunAuthEnable(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "auth enable command does not accept any arguments");
  Client& c = inv.client();
  // Like etcdctl: when root lacks the root role, create it, grant it, and try again.
  while (true) {
    auto r = c.AuthEnable(etcdserverpb::AuthEnableRequest());
    if (r.ok()) break;
    if (r.status().message() != "etcdserver: root user does not have root role") Fail(kExitError, ErrText(r.status()));
    etcdserverpb::AuthRoleAddRequest add;
    add.set_name("root");
    Must(c.RoleAdd(add));
    etcdserverpb::AuthUserGrantRoleRequest grant;
    grant.set_user("root");
    grant.set_role("root");
    Must(c.UserGrantRole(grant));
  }
  Out("Authentication Enabled\n");
  return kExitSuccess;
}

int RunAuthDisable(Invocation& inv) {
  if (!inv.args.empty()) Fail(kExitBadArgs, "auth disable command does not accept any arguments");
  Must(inv.client().AuthDisable(etcdserverpb::AuthDisableRequest()));
  Out("Authentication Disabled\n");
  return kExitSuccess;
}

}  // namespace

void AddAuthCommands(std::vector<CommandDef>* out) {
  FlagSpec interactive{"interactive", "", FlagKind::kBool, "true"};
  out->push_back({"user add", "user add <user name or user:password> [options]",
                  {interactive, {"new-user-password", "", FlagKind::kString, ""},
                   {"no-password", "", FlagKind::kBool, "false"}},
                  RunUserAdd});
  out->push_back({"user delete", "user delete <user name>", {}, RunUserDelete});
  out->push_back({"user get", "user get <user name> [--detail]", {{"detail", "", FlagKind::kBool, "false"}}, RunUserGet});
  out->push_back({"user list", "user list", {}, RunUserList});
  out->push_back({"user passwd", "user passwd <user name> [options]", {interactive}, RunUserPasswd});
  out->push_back({"user grant-role", "user grant-role <user name> <role name>", {}, RunUserGrantRole});
  out->push_back({"user revoke-role", "user revoke-role <user name> <role name>", {}, RunUserRevokeRole});
  FlagSpec prefix{"prefix", "", FlagKind::kBool, "false"};
  FlagSpec from_key{"from-key", "", FlagKind::kBool, "false"};
  out->push_back({"role add", "role add <role name>", {}, RunRoleAdd});
  out->push_back({"role delete", "role delete <role name>", {}, RunRoleDelete});
  out->push_back({"role get", "role get <role name>", {}, RunRoleGet});
  out->push_back({"role list", "role list", {}, RunRoleList});
  out->push_back({"role grant-permission", "role grant-permission [options] <role name> <permission type> <key> [endkey]",
                  {prefix, from_key}, RunRoleGrantPermission});
  out->push_back({"role revoke-permission", "role revoke-permission <role name> <key> [endkey]", {prefix, from_key},
                  RunRoleRevokePermission});
  out->push_back({"auth enable", "auth enable", {}, RunAuthEnable});
  out->push_back({"auth disable", "auth disable", {}, RunAuthDisable});
}

}  // namespace cairn::ctl
