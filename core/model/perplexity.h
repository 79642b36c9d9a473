// Perplexity of a model on a token stream: the stream is cut into non-overlapping windows of
// `window` tokens, each run from an empty cache, and every token after a window's first is
// scored by the log-probability the model gave it (log-softmax in double). The same
// convention as scripts/builtin_model/train.py, so their figures compare.
#ifndef SWITCHYARD_CORE_MODEL_PERPLEXITY_H_
#define SWITCHYARD_CORE_MODEL_PERPLEXITY_H_

#include <cstdint>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "core/model/moe_model.h"

namespace sy {

struct PerplexityResult {
  int64_t windows = 0;
  int64_t scored_tokens = 0;
  double total_nll = 0;  // nats over all scored tokens
  double mean_nll = 0;   // nats per scored token
  double perplexity = 0;
  double seconds = 0;
};

// Data parallelism: of `count` processes scoring the same stream, this one (`index`) scores
// windows index, index + count, ... (expert-parallel ranks each score their share).
struct WindowShare {
  int index = 0;
  int count = 1;
};

// `progress` (optional) sees windows done out of the total. A trailing part shorter than two
// tokens is not scored; fewer than two tokens in all is an error.
absl::StatusOr<PerplexityResult> Perplexity(
    MoeModel& model, ExecContext& ctx, std::span<const int32_t> ids, int64_t window,
    const std::function<void(int64_t done, int64_t total)>& progress = nullptr,
    WindowShare share = {});

// Adds up shares' results (windows, tokens, NLL, the slowest time) and derives the means.
PerplexityResult CombineShares(std::span<const PerplexityResult> shares);

// -log softmax(logits)[target] for one row of logits, in double.
double NegativeLogLikelihood(const float* logits, int64_t vocab, int32_t target);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_PERPLEXITY_H_
