#include "core/model/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {

double NegativeLogLikelihood(const float* logits, int64_t vocab, int32_t target) {
  const double max = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - max);
  return std::log(sum) + max - static_cast<double>(logits[target]);
}

absl::StatusOr<PerplexityResult> Perplexity(
    MoeModel& model, ExecContext& ctx, std::span<const int32_t> ids, int64_t window,
    const std::function<void(int64_t done, int64_t total)>& progress, WindowShare share) {
  if (window < 2) return absl::InvalidArgumentError("the perplexity window must be >= 2 tokens");
  if (ids.size() < 2) return absl::InvalidArgumentError("perplexity needs at least 2 tokens");
  const int64_t context = model.config().max_position_embeddings;
  if (context > 0 && window > context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the perplexity window (", window, ") exceeds the model's context (", context, ")"));
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t total = static_cast<int64_t>(ids.size());
  const int64_t windows = (total + window - 1) / window;
  constexpr int64_t kBlock = 16;
  SY_ASSIGN_OR_RETURN(PagedKvCache cache, PagedKvCache::Create(model.CacheShape(
                                              (window + kBlock - 1) / kBlock, kBlock)));
  PerplexityResult result;
  double nll = 0;
  for (int64_t w = share.index; w < windows; w += share.count) {
    const auto begin = ids.begin() + w * window;
    const std::vector<int32_t> tokens(begin, begin + std::min(window, total - w * window));
    if (tokens.size() < 2) break;
    SY_RETURN_IF_ERROR(cache.AddSequence(0));
    absl::StatusOr<Tensor> logits = model.Forward(ctx, tokens, 0, cache);
    SY_RETURN_IF_ERROR(cache.Free(0));
    SY_RETURN_IF_ERROR(logits.status());
    const int64_t vocab = logits->dim(1);
    const float* rows = logits->data<float>();
    for (size_t t = 0; t + 1 < tokens.size(); ++t) {
      nll += NegativeLogLikelihood(rows + t * vocab, vocab, tokens[t + 1]);
    }
    result.scored_tokens += static_cast<int64_t>(tokens.size()) - 1;
    ++result.windows;
    if (progress) progress(w + 1, windows);
  }
  result.total_nll = nll;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return CombineShares(std::span<const PerplexityResult>(&result, 1));
}

PerplexityResult CombineShares(std::span<const PerplexityResult> shares) {
  PerplexityResult all;
  for (const PerplexityResult& s : shares) {
    all.windows += s.windows;
    all.scored_tokens += s.scored_tokens;
    all.total_nll += s.total_nll;
    all.seconds = std::max(all.seconds, s.seconds);
  }
  all.mean_nll = all.scored_tokens > 0 ? all.total_nll / static_cast<double>(all.scored_tokens) : 0;
  all.perplexity = std::exp(all.mean_nll);
  return all;
}

}  // namespace sy
