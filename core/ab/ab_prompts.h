// The prompts both sides of an A/B test run: a built-in set of documentation-style openings
// (the built-in model was trained on the Python docs), or a file of them.
#ifndef SWITCHYARD_CORE_AB_AB_PROMPTS_H_
#define SWITCHYARD_CORE_AB_AB_PROMPTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sy::ab {

const std::vector<std::string>& BuiltinPrompts();

// FILE.jsonl: one request per line, an object with a string "prompt" (the OpenAI completions
// shape); any other file: one prompt per non-empty line. Errors name the file and line.
absl::StatusOr<std::vector<std::string>> LoadPrompts(const std::string& path);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_PROMPTS_H_
