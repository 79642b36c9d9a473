// Aligned plain-text tables for command output.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_TEXT_TABLE_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace sy::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Headers, a rule, then the rows; columns separated by two spaces, the last one unpadded.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_TEXT_TABLE_H_
