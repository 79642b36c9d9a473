#include "shells/switchyard/text_table.h"

#include <algorithm>

namespace sy::cli {

std::string TextTable::Render() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) widths[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < headers_.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      line += cell;
      if (i + 1 < headers_.size()) line += std::string(widths[i] - cell.size() + 2, ' ');
    }
    return line + "\n";
  };
  std::string out = render_row(headers_);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.push_back(std::string(w, '-'));
  out += render_row(rule);
  for (const auto& row : rows_) out += render_row(row);
  return out;
}

}  // namespace sy::cli
