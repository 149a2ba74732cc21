#include "tools/ctl/child_process.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace cairn::ctl {

int RunChild(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
             const sigset_t* unblock) {
  std::fflush(stdout);  // what cairnctl printed comes before what the command prints
  const pid_t pid = fork();
  if (pid == 0) {
    if (unblock != nullptr) pthread_sigmask(SIG_UNBLOCK, unblock, nullptr);
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return status;
}

}  // namespace cairn::ctl
