// Generating text with one sequence: prefill the prompt, then sample a token at a time until
// an end-of-sequence token, a stop string or max_tokens. Text is streamed as it becomes valid
// UTF-8 and never includes a stop string.
#ifndef SWITCHYARD_CORE_MODEL_GENERATION_H_
#define SWITCHYARD_CORE_MODEL_GENERATION_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/moe_model.h"
#include "core/runtime/sampler.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace sy {

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated, without the prompt
  std::string text;
  std::string finish_reason;  // "stop" (eos or a stop string) or "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // all steps after the first token
};

// `on_text` receives each printable piece of the output as it is produced.
absl::StatusOr<GenerationResult> Generate(MoeModel& model, const BpeTokenizer& tokenizer,
                                          ExecContext& ctx, const std::vector<int32_t>& prompt,
                                          const SamplingParams& params,
                                          const std::vector<int64_t>& eos_ids,
                                          const std::function<void(const std::string&)>& on_text);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_GENERATION_H_
