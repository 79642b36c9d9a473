// Running one side of an A/B test and comparing two sides. A side is a loaded model (one set
// of router, quantizer, experts and capacity options); it scores every position of every
// prompt, continues each prompt greedily, and measures held-out perplexity, expert load and
// per-token decode latency. Compare() then reads quality against the baseline from the two
// sides' next-token distributions and continuations.
#ifndef SWITCHYARD_CORE_AB_AB_RUN_H_
#define SWITCHYARD_CORE_AB_AB_RUN_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/moe_model.h"
#include "core/model/perplexity.h"
#include "core/moe/expert_load.h"

namespace sy::ab {

struct RunOptions {
  int32_t max_tokens = 32;  // greedy continuation length per prompt
  int64_t window = 256;     // perplexity window on held-out text
};

struct SideRun {
  int64_t vocab = 0;
  // Per prompt, the logits of every position [prompt tokens × vocab]: the prompts' whole
  // next-token distributions are what KL divergence and top-1 agreement compare, so memory is
  // prompts × tokens × vocab × 4 bytes.
  std::vector<std::vector<float>> prompt_logits;
  // Per prompt, the greedy continuation: max_tokens tokens, or fewer when it ended with an
  // end-of-sequence token (kept) or filled the context.
  std::vector<std::vector<int32_t>> continuations;
  PerplexityResult perplexity;  // on the held-out text, or on the prompts without one
  // Per MoE layer, the routing slots of all prompt positions and decode steps together.
  std::vector<ExpertLoad> layer_loads;
  std::vector<double> step_seconds;  // each greedy decode step after the first token
};

// Runs `prompts` (token ids, each non-empty) through `model`. With an empty `heldout`, the
// perplexity is the prompts' own (every position after a prompt's first scored).
absl::StatusOr<SideRun> RunSide(MoeModel& model, ExecContext& ctx,
                                const std::vector<std::vector<int32_t>>& prompts,
                                std::span<const int32_t> heldout,
                                const std::vector<int64_t>& eos_ids, const RunOptions& options);

struct Quality {
  int64_t positions = 0;  // next-token distributions compared
  double mean_kl = 0;     // KL(A‖B) in nats, averaged over positions
  double max_kl = 0;
  double top1_agreement = 0;  // fraction of positions where both argmaxes agree
  int64_t prompts = 0;
  int64_t greedy_identical = 0;     // prompts whose continuations are identical
  double mean_matching_prefix = 0;  // tokens, averaged over prompts
  double mean_continuation = 0;     // A's continuation length, averaged over prompts
  double greedy_agreement() const {
    return prompts == 0 ? 0 : static_cast<double>(greedy_identical) / prompts;
  }
};

// B against the baseline A; both must have run the same prompts.
absl::StatusOr<Quality> Compare(const SideRun& a, const SideRun& b);

struct Speed {
  int64_t steps = 0;
  double tokens_per_second = 0;  // greedy decode steps per second of decoding
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
};

Speed SummarizeSpeed(const SideRun& run);

// Everything one A/B test found, for the terminal table, the HTML report and the JSON.
struct Side {
  std::string spec;  // the side as the user wrote it
  SideRun run;
  Speed speed;
};

struct Report {
  std::string model;
  std::string heldout;  // the held-out text's path; empty: scored on the prompts
  RunOptions options;
  int64_t prompt_tokens = 0;
  Side a, b;
  Quality quality;
};

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_RUN_H_
