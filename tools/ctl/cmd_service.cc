#include "tools/ctl/commands.h"
namespace cairn::ctl {
void AddServiceCommands(std::vector<CommandDef>* out) {}
}
