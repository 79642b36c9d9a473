#include "core/model/generation.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/token_streamer.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr int64_t kBlockSize = 16;

// Feeds `tokens` to sequence 0 and draws the next token: on the device when the model offers
// it (only the id crosses back), else on the host from the last row's logits. Either way one
// step of the sampler's random stream, penalizing repeats of `history`.
absl::StatusOr<int32_t> ForwardAndSample(MoeModel& model, ExecContext& ctx, PagedKvCache& cache,
                                         Sampler& sampler, const std::vector<int32_t>& tokens,
                                         const std::vector<int32_t>& history) {
  const SequenceChunk chunk{.sequence = 0, .tokens = tokens};
  const std::span<const SequenceChunk> batch(&chunk, 1);
  if (model.samples_on_device()) {
    const DeviceDraw draw{
        .chunk = 0, .params = &sampler.params(), .step = sampler.TakeStep(), .history = history};
    SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                        model.ForwardBatchSampled(ctx, batch, cache, {&draw, 1}));
    return ids[0];
  }
  SY_ASSIGN_OR_RETURN(const Tensor logits, model.ForwardBatch(ctx, batch, cache));
  return sampler.Sample(logits.data<float>(), logits.dim(1), history);
}

}  // namespace

absl::StatusOr<GenerationResult> Generate(MoeModel& model, const BpeTokenizer& tokenizer,
                                          ExecContext& ctx, const std::vector<int32_t>& prompt,
                                          const SamplingParams& params,
                                          const std::vector<int64_t>& eos_ids,
                                          const std::function<void(const std::string&)>& on_text) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt encodes to no tokens");
  const int64_t context = model.config().max_position_embeddings;
  if (static_cast<int64_t>(prompt.size()) >= context) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt.size(),
                                              " tokens; the model's context is ", context,
                                              " (leave room for at least one new token)"));
  }
  SY_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params));
  const int64_t total =
      std::min<int64_t>(context, static_cast<int64_t>(prompt.size()) + params.max_tokens);
  SY_ASSIGN_OR_RETURN(PagedKvCache cache, PagedKvCache::Create(model.CacheShape(
                                              (total + kBlockSize - 1) / kBlockSize, kBlockSize)));
  SY_RETURN_IF_ERROR(cache.AddSequence(0));

  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> history = prompt;
  TokenStreamer streamer(tokenizer, params, eos_ids);
  auto emit = [&](const std::string& text) {
    result.text += text;
    if (on_text && !text.empty()) on_text(text);
  };

  auto start = Clock::now();
  SY_ASSIGN_OR_RETURN(int32_t token, ForwardAndSample(model, ctx, cache, sampler, prompt, history));
  result.prefill_seconds = Seconds(start);
  start = Clock::now();
  while (true) {
    history.push_back(token);
    const TokenStreamer::Step step = streamer.Push(token);
    emit(step.text);
    if (step.finished) break;
    if (static_cast<int64_t>(history.size()) >= context) {  // the context is full
      emit(streamer.Finish("length"));
      break;
    }
    SY_ASSIGN_OR_RETURN(token, ForwardAndSample(model, ctx, cache, sampler, {token}, history));
  }
  result.tokens = streamer.tokens();
  result.finish_reason = streamer.finish_reason();
  result.decode_seconds = Seconds(start);
  return result;
}

}  // namespace sy
