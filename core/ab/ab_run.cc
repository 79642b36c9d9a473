#include "core/ab/ab_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/ab/ab_stats.h"
#include "core/base/status.h"

namespace sy::ab {
namespace {

constexpr int64_t kBlockSize = 16;

bool IsEos(int32_t token, const std::vector<int64_t>& eos_ids) {
  return std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
}

// The prompts' own perplexity from the logits already computed: each position predicts the
// next prompt token, as Perplexity() scores a window.
PerplexityResult PromptPerplexity(const SideRun& run,
                                  const std::vector<std::vector<int32_t>>& prompts) {
  PerplexityResult result;
  double nll = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (size_t t = 0; t + 1 < prompts[p].size(); ++t) {
      nll += NegativeLogLikelihood(run.prompt_logits[p].data() + t * run.vocab, run.vocab,
                                   prompts[p][t + 1]);
      ++result.scored_tokens;
    }
    ++result.windows;
  }
  result.mean_nll = result.scored_tokens == 0 ? 0 : nll / result.scored_tokens;
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

}  // namespace

absl::StatusOr<SideRun> RunSide(MoeModel& model, ExecContext& ctx,
                                const std::vector<std::vector<int32_t>>& prompts,
                                std::span<const int32_t> heldout,
                                const std::vector<int64_t>& eos_ids, const RunOptions& options) {
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts to run");
  if (options.max_tokens < 1) return absl::InvalidArgumentError("max_tokens must be >= 1");
  const int64_t context = model.config().max_position_embeddings;
  size_t longest = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    if (prompts[p].empty())
      return absl::InvalidArgumentError(absl::StrCat("prompt ", p + 1, " encodes to no tokens"));
    if (context > 0 && static_cast<int64_t>(prompts[p].size()) >= context) {
      return absl::OutOfRangeError(absl::StrCat("prompt ", p + 1, " has ", prompts[p].size(),
                                                " tokens; the model's context is ", context));
    }
    longest = std::max(longest, prompts[p].size());
  }

  SideRun run;
  if (!heldout.empty()) {
    SY_ASSIGN_OR_RETURN(run.perplexity, Perplexity(model, ctx, heldout, options.window));
  }
  // The load is the prompts' and continuations' only, not the held-out text's.
  for (MoeLayer* layer : model.moe_layers()) layer->ResetTotalLoad();

  const int64_t capacity = static_cast<int64_t>(longest) + options.max_tokens;
  SY_ASSIGN_OR_RETURN(
      PagedKvCache cache,
      PagedKvCache::Create(model.CacheShape((capacity + kBlockSize - 1) / kBlockSize, kBlockSize)));
  for (const std::vector<int32_t>& prompt : prompts) {
    SY_RETURN_IF_ERROR(cache.AddSequence(0));
    absl::StatusOr<Tensor> logits = model.Forward(ctx, prompt, 0, cache);
    if (!logits.ok()) {
      SY_RETURN_IF_ERROR(cache.Free(0));
      return logits.status();
    }
    run.vocab = logits->dim(1);
    const float* rows = logits->data<float>();
    run.prompt_logits.emplace_back(rows, rows + logits->dim(0) * run.vocab);
    std::vector<int32_t> continuation = {
        static_cast<int32_t>(Argmax(rows + (logits->dim(0) - 1) * run.vocab, run.vocab))};
    int64_t length = static_cast<int64_t>(prompt.size()) + 1;
    while (static_cast<int32_t>(continuation.size()) < options.max_tokens &&
           !IsEos(continuation.back(), eos_ids) && (context <= 0 || length < context)) {
      const auto start = std::chrono::steady_clock::now();
      logits = model.Forward(ctx, {continuation.back()}, 0, cache);
      if (!logits.ok()) break;
      continuation.push_back(static_cast<int32_t>(Argmax(logits->data<float>(), run.vocab)));
      run.step_seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      ++length;
    }
    SY_RETURN_IF_ERROR(cache.Free(0));
    SY_RETURN_IF_ERROR(logits.status());
    run.continuations.push_back(std::move(continuation));
  }
  for (const MoeLayer* layer : model.moe_layers()) run.layer_loads.push_back(layer->total_load());
  if (heldout.empty()) run.perplexity = PromptPerplexity(run, prompts);
  return run;
}

absl::StatusOr<Quality> Compare(const SideRun& a, const SideRun& b) {
  if (a.prompt_logits.size() != b.prompt_logits.size() || a.vocab != b.vocab)
    return absl::InvalidArgumentError("the two sides ran different prompts or vocabularies");
  Quality q;
  q.prompts = static_cast<int64_t>(a.prompt_logits.size());
  double kl_sum = 0, prefix_sum = 0, length_sum = 0;
  int64_t agree = 0;
  for (size_t p = 0; p < a.prompt_logits.size(); ++p) {
    if (a.prompt_logits[p].size() != b.prompt_logits[p].size())
      return absl::InvalidArgumentError(absl::StrCat("prompt ", p + 1, " differs in length"));
    const int64_t rows = static_cast<int64_t>(a.prompt_logits[p].size()) / a.vocab;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row_a = a.prompt_logits[p].data() + r * a.vocab;
      const float* row_b = b.prompt_logits[p].data() + r * b.vocab;
      const double kl = KlDivergence(LogSoftmax(row_a, a.vocab), LogSoftmax(row_b, b.vocab));
      kl_sum += kl;
      q.max_kl = std::max(q.max_kl, kl);
      agree += Argmax(row_a, a.vocab) == Argmax(row_b, b.vocab);
      ++q.positions;
    }
    const std::vector<int32_t>& ca = a.continuations[p];
    const std::vector<int32_t>& cb = b.continuations[p];
    q.greedy_identical += ca == cb;
    prefix_sum += static_cast<double>(
        std::mismatch(ca.begin(), ca.end(), cb.begin(), cb.end()).first - ca.begin());
    length_sum += static_cast<double>(ca.size());
  }
  if (q.positions > 0) {
    q.mean_kl = kl_sum / static_cast<double>(q.positions);
    q.top1_agreement = static_cast<double>(agree) / static_cast<double>(q.positions);
  }
  if (q.prompts > 0) {
    q.mean_matching_prefix = prefix_sum / static_cast<double>(q.prompts);
    q.mean_continuation = length_sum / static_cast<double>(q.prompts);
  }
  return q;
}

Speed SummarizeSpeed(const SideRun& run) {
  Speed s;
  s.steps = static_cast<int64_t>(run.step_seconds.size());
  const double total = std::accumulate(run.step_seconds.begin(), run.step_seconds.end(), 0.0);
  if (total > 0) s.tokens_per_second = static_cast<double>(s.steps) / total;
  s.p50_ms = 1e3 * Percentile(run.step_seconds, 50);
  s.p90_ms = 1e3 * Percentile(run.step_seconds, 90);
  s.p99_ms = 1e3 * Percentile(run.step_seconds, 99);
  return s;
}

}  // namespace sy::ab
