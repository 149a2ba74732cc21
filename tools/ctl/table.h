// Renders a table the way etcdctl's tablewriter does with ALIGN_RIGHT: upper-cased centred
// headers, right-aligned cells, +---+ borders. Cells are not wrapped (tablewriter wraps
// cells longer than 30 characters at spaces; etcdctl's cells rarely contain spaces).
#ifndef CAIRN_TOOLS_CTL_TABLE_H_
#define CAIRN_TOOLS_CTL_TABLE_H_

#include <string>
#include <vector>

namespace cairn::ctl {

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_TABLE_H_
