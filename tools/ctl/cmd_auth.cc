#include "tools/ctl/commands.h"
namespace cairn::ctl {
void AddAuthCommands(std::vector<CommandDef>* out) {}
}
