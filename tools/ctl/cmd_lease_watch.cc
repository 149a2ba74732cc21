#include "tools/ctl/commands.h"
namespace cairn::ctl {
void AddLeaseWatchCommands(std::vector<CommandDef>* out) {}
}
