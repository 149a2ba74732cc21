// Running a user's command from a cairnctl command (`watch -- cmd`, `lock name -- cmd`): stdout and
// stderr inherited, extra environment variables set for it alone, waited for.
#ifndef CAIRN_TOOLS_CTL_CHILD_PROCESS_H_
#define CAIRN_TOOLS_CTL_CHILD_PROCESS_H_

#include <signal.h>

#include <string>
#include <utility>
#include <vector>

namespace cairn::ctl {

// Runs `argv` (looked up in PATH; exit code 127 when it cannot be started) with `env` added to the
// environment, and with `unblock` (if given: signals this process blocks) unblocked in the child, so
// the command takes Ctrl-C as usual. Returns waitpid's status, or -1 if the child could not be made.
int RunChild(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
             const sigset_t* unblock = nullptr);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_CHILD_PROCESS_H_
