// switchyard bench decode: the whole model's decode speed at several batch sizes, beside the
// weight-streaming bound of the same step — the bytes a step must read (every dense weight, the
// experts its tokens touch, the batch's KV cache) divided by the memory bandwidth.
//
// Under launch (expert parallelism) every rank decodes its own B sequences in the same steps,
// as attention data-parallel serving does; tokens/s count every rank's, and the bound is one
// GPU's bytes: the dense weights, its share of the experts the whole group's tokens touch, its
// KV cache. Rank 0 prints.
//
// Each batch of B sequences is prefilled with --context random tokens, then --steps decode
// steps of all B run back to back and are timed (wall clock), three ways on the same sequences:
// the logits back on the host and no sampling (the bound's columns), sampled on the host by
// core/runtime/sampler, and sampled on the device with only the ids coming back (the GPU model;
// SWITCHYARD_DEVICE_SAMPLING=0 turns it off). Expert bytes assume uniform routing: a layer's
// B * k choices touch E * (1 - (1 - k/E)^B) experts in expectation, which is what random weights
// produce.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/host_bandwidth.h"
#include "shells/switchyard/model_loading.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kWarmupSteps = 2;

// An H200's HBM3e, as NVIDIA states it; the bound the issue sets for the GPU.
constexpr double kH200HbmGBps = 4800;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard bench decode: %s\n", std::string(status.message()).c_str());
  return 1;
}

absl::StatusOr<std::vector<int64_t>> ParseCounts(const std::string& option,
                                                 const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", option, ": expected positive integers, got '", part, "'"));
    }
    values.push_back(v);
  }
  return values;
}

// Bytes one decode step of `batch` tokens at `context` cached positions reads, by part.
struct StepBytes {
  double dense = 0;    // attention, norms, routers, dense MLPs, shared experts, LM head
  double experts = 0;  // the routed experts touched
  double kv = 0;       // the batch's keys and values
  double total() const { return dense + experts + kv; }
};

// One rank's bytes when `ranks` ranks each step `batch` tokens and share the experts evenly.
StepBytes BytesPerStep(const ModelConfig& c, double weight_bytes, double kv_bytes_per_token,
                       int64_t batch, int64_t context, int ranks) {
  const double h = static_cast<double>(c.hidden_size), hd = static_cast<double>(c.head_dim);
  double attention = h * hd * (2.0 * c.num_attention_heads + 2.0 * c.num_key_value_heads);
  if (c.mla) {  // q (LoRA or not), kv_a, kv_b, o
    const MlaConfig& m = *c.mla;
    const double heads = static_cast<double>(c.num_attention_heads), qk = heads * m.qk_head_dim();
    attention = (m.q_lora_rank > 0 ? m.q_lora_rank * (h + qk) : h * qk) +
                h * (m.kv_lora_rank + m.qk_rope_head_dim) +
                heads * (m.qk_nope_head_dim + m.v_head_dim) * m.kv_lora_rank +
                heads * m.v_head_dim * h;
  }
  const double shared = static_cast<double>(c.shared_expert_intermediate_size +
                                            c.n_shared_experts * c.expert_intermediate_size());
  double dense = static_cast<double>(c.vocab_size) * h + h;  // LM head, final norm
  double experts = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    dense += attention + 2 * h;
    if (!c.IsMoeLayer(l)) {
      dense += 3 * h * c.intermediate_size;
      continue;
    }
    const double e = static_cast<double>(c.num_experts), k = c.num_experts_per_tok;
    dense += e * h + 3 * h * shared;
    const double touched = e * (1 - std::pow(1 - k / e, static_cast<double>(batch * ranks)));
    experts += touched / ranks * 3 * h * c.expert_intermediate_size();
  }
  StepBytes bytes;
  bytes.dense = dense * weight_bytes;
  bytes.experts = experts * weight_bytes;
  bytes.kv = static_cast<double>(batch) * context * kv_bytes_per_token;
  return bytes;
}

// How a timed step ends: the logits on the host and nothing sampled, or the next tokens sampled
// on the host or on the device.
enum class Sampling { kNone, kHost, kDevice };

// What the sampled columns draw with: a common chat setting (top-p sorts the candidates on the
// CPU).
SamplingParams BenchSampling(uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.9f;
  p.seed = seed;
  return p;
}

// One sequence of the batch: its tokens so far (the last one is the next step's input).
struct Decoding {
  std::vector<int32_t> tokens;
  Sampler sampler;
};

int32_t SyntheticToken(const ModelConfig& c, int64_t s, int64_t t) {
  return static_cast<int32_t>((s * 7919 + t * 104729 + 17) % c.vocab_size);
}

// The batch's next tokens after one step, each way.
absl::StatusOr<std::vector<int32_t>> Step(MoeModel& model, ExecContext& ctx, PagedKvCache& cache,
                                          std::vector<Decoding>& batch, Sampling how) {
  const int64_t n = std::ssize(batch);
  std::vector<SequenceChunk> step(n);
  for (int64_t s = 0; s < n; ++s) step[s] = {.sequence = s, .tokens = {batch[s].tokens.back()}};
  if (how == Sampling::kDevice) {
    std::vector<DeviceDraw> draws(n);
    for (int64_t s = 0; s < n; ++s) {
      Sampler& sampler = batch[s].sampler;
      draws[s] = {.chunk = static_cast<size_t>(s),
                  .params = &sampler.params(),
                  .step = sampler.TakeStep(),
                  .history = batch[s].tokens};
    }
    return model.ForwardBatchSampled(ctx, step, cache, draws);
  }
  SY_ASSIGN_OR_RETURN(const Tensor logits, model.ForwardBatch(ctx, step, cache));
  const int64_t vocab = logits.dim(1);
  std::vector<int32_t> next(n);
  for (int64_t s = 0; s < n; ++s) {
    const std::vector<int32_t>& tokens = batch[s].tokens;
    next[s] = how == Sampling::kHost
                  ? batch[s].sampler.Sample(logits.data<float>() + s * vocab, vocab, tokens)
                  : SyntheticToken(model.config(), s, std::ssize(tokens));
  }
  return next;
}

// Times `steps` decode steps of the whole batch after two untimed ones; seconds per step.
absl::StatusOr<double> TimeSteps(MoeModel& model, ExecContext& ctx, PagedKvCache& cache,
                                 std::vector<Decoding>& batch, Sampling how, int64_t steps) {
  Clock::time_point start;
  for (int64_t i = 0; i < kWarmupSteps + steps; ++i) {
    if (i == kWarmupSteps) start = Clock::now();
    SY_ASSIGN_OR_RETURN(const std::vector<int32_t> next, Step(model, ctx, cache, batch, how));
    for (size_t s = 0; s < batch.size(); ++s) batch[s].tokens.push_back(next[s]);
  }
  return std::chrono::duration<double>(Clock::now() - start).count() / steps;
}

// Seconds per decode step of each way of sampling (kDevice only where the model offers it).
struct DecodeTimes {
  double logits = 0, host = 0, device = 0;
};

// Prefills `batch` sequences of `context` tokens (in steps of at most 8192 tokens), then times
// `steps` decode steps of all of them each way, one after another on the same sequences.
absl::StatusOr<DecodeTimes> TimeDecode(MoeModel& model, ExecContext& ctx, int64_t batch,
                                       int64_t context, int64_t steps) {
  const ModelConfig& c = model.config();
  constexpr int64_t kBlock = 16, kWays = 3;
  const int64_t per_sequence = (context + kWays * (steps + kWarmupSteps) + kBlock - 1) / kBlock;
  SY_ASSIGN_OR_RETURN(PagedKvCache cache,
                      PagedKvCache::Create(model.CacheShape(batch * per_sequence, kBlock)));
  std::vector<Decoding> decoding;
  std::vector<SequenceChunk> prefill;
  int64_t pending = 0;
  for (int64_t s = 0; s < batch; ++s) {
    SY_RETURN_IF_ERROR(cache.AddSequence(s));
    SY_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(BenchSampling(static_cast<uint64_t>(s))));
    decoding.push_back({.tokens = {}, .sampler = std::move(sampler)});
    for (int64_t t = 0; t <= context; ++t)
      decoding.back().tokens.push_back(SyntheticToken(c, s, t));
    // The last token is the first decode step's input.
    prefill.push_back(
        {.sequence = s,
         .tokens = {decoding.back().tokens.begin(), decoding.back().tokens.end() - 1}});
    pending += context;
    if (pending >= 8192 || s == batch - 1) {
      SY_RETURN_IF_ERROR(model.ForwardBatch(ctx, prefill, cache).status());
      prefill.clear();
      pending = 0;
    }
  }
  DecodeTimes times;
  SY_ASSIGN_OR_RETURN(times.logits, TimeSteps(model, ctx, cache, decoding, Sampling::kNone, steps));
  SY_ASSIGN_OR_RETURN(times.host, TimeSteps(model, ctx, cache, decoding, Sampling::kHost, steps));
  if (model.samples_on_device()) {
    SY_ASSIGN_OR_RETURN(times.device,
                        TimeSteps(model, ctx, cache, decoding, Sampling::kDevice, steps));
  }
  return times;
}

}  // namespace

int BenchDecode(const ParsedArgs& args) {
  auto batches = ParseCounts("batch", args.Get("batch", "1,16,64,256"));
  if (!batches.ok()) return UsageError("bench", batches.status().message());
  auto contexts = ParseCounts("context", args.Get("context", "512"));
  auto steps = ParseCounts("steps", args.Get("steps", "32"));
  if (!contexts.ok() || contexts->size() != 1) return UsageError("bench", "--context: one count");
  if (!steps.ok() || steps->size() != 1) return UsageError("bench", "--steps: one count");
  const int64_t context = (*contexts)[0], step_count = (*steps)[0];

  const auto registry = LoadPlugins(args);
  auto ctx = CreateContextFromArgs(args);
  if (!ctx.ok()) return Fail(ctx.status());
  ExpertParallelGroup group;
  auto model = LoadModelFromArgs(args, *registry, **ctx, &group);
  if (!model.ok()) return Fail(model.status());
  MoeModel& network = *(*model)->network;
  const int ranks = group.expert_parallel ? group.expert_parallel->world_size() : 1;
  const bool prints = !group.expert_parallel || group.expert_parallel->rank() == 0;
  const ModelConfig& c = network.config();
  const bool gpu = network.device().is_cuda();
  const double bandwidth = gpu ? kH200HbmGBps : MeasureCopyGBps();
  const double weight_bytes = gpu ? 2 : 4;  // bf16 on the GPU, f32 on the CPU
  const double kv_per_token = static_cast<double>(network.CacheShape(1).BytesPerToken());
  if (prints) {
    std::printf("%s on %s: %lld layers, %lld experts, top-%lld; context %lld, %lld timed steps\n",
                (*model)->name.c_str(), network.device().ToString().c_str(),
                static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.num_experts),
                static_cast<long long>(c.num_experts_per_tok), static_cast<long long>(context),
                static_cast<long long>(step_count));
    if (ranks > 1) {
      std::printf(
          "expert-parallel over %d ranks (%s): each rank decodes BATCH sequences of its own; "
          "tokens/s count every rank's; MB/STEP and the bound are one rank's (the dense "
          "weights, 1/%d of the experts the group's tokens touch, its KV cache)\n",
          ranks, group.expert_parallel->comm->component().full_name().c_str(), ranks);
    }
    std::printf("bound: the bytes a step reads / %.0f GB/s (%s)\n", bandwidth,
                gpu ? "H200 HBM3e, nominal" : "this machine's memcpy, measured");
    const SamplingParams sampling = BenchSampling(0);
    std::printf(
        "TOKENS/S: logits to the host, nothing sampled; HOST-SAMPLED: + core/runtime/sampler; "
        "DEVICE-SAMPLED: sampled on the GPU, ids back (temperature %.1f, top-p %.2f)\n\n",
        sampling.temperature, sampling.top_p);
  }

  TextTable table({"BATCH", "STEP MS", "TOKENS/S", "MB/STEP", "GB/S", "BOUND TOKENS/S",
                   "% OF BOUND", "HOST-SAMPLED TOKENS/S", "DEVICE-SAMPLED TOKENS/S"});
  for (int64_t batch : *batches) {
    auto times = TimeDecode(network, **ctx, batch, context, step_count);
    if (!times.ok()) return Fail(times.status());
    const StepBytes bytes = BytesPerStep(c, weight_bytes, kv_per_token, batch, context, ranks);
    const double gb = bytes.total() / 1e9, seconds = times->logits;
    const double bound_seconds = gb / bandwidth;
    const double tokens = static_cast<double>(batch * ranks);
    table.AddRow({absl::StrCat(batch), absl::StrFormat("%.3f", seconds * 1e3),
                  absl::StrFormat("%.1f", tokens / seconds), absl::StrFormat("%.1f", gb * 1e3),
                  absl::StrFormat("%.0f", gb / seconds),
                  absl::StrFormat("%.1f", tokens / bound_seconds),
                  absl::StrFormat("%.1f%%", 100 * bound_seconds / seconds),
                  absl::StrFormat("%.1f", tokens / times->host),
                  times->device > 0 ? absl::StrFormat("%.1f", tokens / times->device) : "-"});
  }
  // Under launch: the ranks finish together (the others may still be stepping).
  if (absl::Status done = network.FinishSteps(**ctx); !done.ok()) return Fail(done);
  if (prints) {
    std::printf("%s", table.Render().c_str());
    // Every batch's prefill and steps count toward the rebalancer's windows, in this order.
    if (const std::string eplb = RebalanceSummary(group); !eplb.empty()) {
      std::printf("\n%s\n", eplb.c_str());
    }
  }
  return 0;
}

}  // namespace sy::cli
