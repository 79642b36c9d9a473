#include "core/ab/ab_prompts.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sy::ab {

const std::vector<std::string>& BuiltinPrompts() {
  static const std::vector<std::string> prompts = {
      "The os.path module implements some useful functions on pathnames.",
      "Return a new sorted list from the items in iterable.",
      "A dictionary maps hashable values to arbitrary objects.",
      "This module provides regular expression matching operations",
      "Raised when an operation or function is applied to an object of inappropriate type.",
      "The with statement is used to wrap the execution of a block",
      "Open file and return a corresponding file object.",
      "class collections.deque([iterable[, maxlen]])",
  };
  return prompts;
}

absl::StatusOr<std::vector<std::string>> LoadPrompts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the prompts file"));
  const bool jsonl = absl::EndsWith(path, ".jsonl");
  std::vector<std::string> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (!jsonl) {
      prompts.push_back(line);
      continue;
    }
    const nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object() || !request.contains("prompt") || !request["prompt"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": expected a JSON object with a string \"prompt\""));
    }
    prompts.push_back(request["prompt"].get<std::string>());
  }
  if (prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  return prompts;
}

}  // namespace sy::ab
