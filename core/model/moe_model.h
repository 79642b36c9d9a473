// A Hugging Face MoE decoder (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V3, gpt-oss) assembled
// on the CPU:
// dense parts from core/dense, each MoE block an sy::MoeLayer built from plugins (router,
// quantizer, experts), so architectures differ only in names, norms and routing settings.
#ifndef SWITCHYARD_CORE_MODEL_MOE_MODEL_H_
#define SWITCHYARD_CORE_MODEL_MOE_MODEL_H_

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dense/paged_kv_cache.h"
#include "core/dense/rope.h"
#include "core/model/checkpoint.h"
#include "core/model/cuda_network.h"
#include "core/moe/moe_layer.h"
#include "core/plugin_host/component_registry.h"
#include "core/runtime/sampler.h"

namespace sy {

struct ModelOptions {
  // The router of every MoE layer; empty: the architecture's own (softmax top-k with its
  // renormalization). router_config, when set, configures it; otherwise a router other than
  // the architecture's gets {k = the model's top-k}.
  std::string router;
  std::optional<ConfigValue> router_config;
  // The model runs on the CPU (its tensors live in host memory), so its experts component is
  // experts.cpu unless named: experts.auto would pick a GPU kernel on a GPU machine.
  std::string experts = "experts.cpu";
  std::optional<ConfigValue> experts_config;  // e.g. experts.cuda's {cacheExperts = 4}
  std::string quantizer;                      // empty: expert weights stay in f32
  // Capacity-factor limiting in every MoE layer (after the router); unset: no limit.
  std::optional<CapacityLimit> capacity;
  // Reports loading progress: layers done out of total.
  std::function<void(int64_t done, int64_t total)> progress;
  // Expert parallelism: every MoE layer keeps only this rank's expert slots and runs collectively
  // over the ranks (core/moe/expert_parallel.h); unset: one process computes every expert.
  std::shared_ptr<const ExpertParallelism> expert_parallel;
  // A CUDA device: the whole model runs there (cuda_network.h) in bf16, with the architecture's
  // own router and fused MoE kernels; router, quantizer, experts and capacity do not apply.
  Device device = Device::Cpu();
};

// One sequence's part of a batched step: its next tokens, appended after what the cache holds.
struct SequenceChunk {
  int64_t sequence = 0;
  std::vector<int32_t> tokens;
  bool all_logits = false;  // logits for every token, not only the last
};

// One token to draw on the device (MoeModel::ForwardBatchSampled): from the logits of chunk
// `chunk`'s last token, with its sequence's sampling parameters, at `step` of the seed's random
// stream (Sampler::TakeStep), penalizing repeats of `history` (the prompt and what followed).
struct DeviceDraw {
  size_t chunk = 0;
  const SamplingParams* params = nullptr;
  uint64_t step = 0;
  std::span<const int32_t> history;
};

// RoPE as the config sets it up; DeepSeek rotates only its qk_rope_head_dim lanes.
RopeConfig RopeConfigOf(const ModelConfig& config);
// Whether the architecture's softmax top-k renormalizes the kept weights to sum to 1.
bool RenormalizesTopK(const ModelConfig& config);

class MoeModel {
 public:
  // Loads every tensor the architecture needs (converted to f32), building one MoeLayer per
  // MoE block with the architecture's router settings. Errors name the tensor and file.
  static absl::StatusOr<std::unique_ptr<MoeModel>> Load(const Checkpoint& checkpoint,
                                                        const ComponentRegistry& registry,
                                                        const ModelOptions& options,
                                                        ExecContext& ctx);
  // A model of `config` with random weights synthesized on options.device, which must be a GPU:
  // full-size shapes (Mixtral-8x7B) run without a download. `seed` fixes the weights.
  static absl::StatusOr<std::unique_ptr<MoeModel>> CreateRandom(const ModelConfig& config,
                                                                const ModelOptions& options,
                                                                uint64_t seed, ExecContext& ctx);
  ~MoeModel();

  // Runs `tokens` as the next positions of `sequence` (which the cache must hold) through
  // every layer, appending their keys and values; returns logits [tokens, vocab] f32.
  absl::StatusOr<Tensor> Forward(ExecContext& ctx, const std::vector<int32_t>& tokens,
                                 int64_t sequence, PagedKvCache& cache);

  // One step of continuous batching: every chunk's tokens in one pass, so the projections and
  // the MoE layers see the whole batch (each expert's tokens from all sequences together) and
  // only attention runs per sequence. Returns logits [rows, vocab] f32: per chunk in order, its
  // last token's row, or all its rows when all_logits. The cache must have room: a chunk that
  // fails to append mid-pass leaves the layers of its sequence uneven (reserve blocks first).
  absl::StatusOr<Tensor> ForwardBatch(ExecContext& ctx, std::span<const SequenceChunk> batch,
                                      PagedKvCache& cache);
  // ForwardBatch whose logits never leave the device: one token per draw, sampled there, comes
  // back instead (a 32 MB copy and the CPU's sorting saved per step at batch 256 and a 32K
  // vocabulary). Only where samples_on_device(); elsewhere callers sample the logits with Sampler.
  absl::StatusOr<std::vector<int32_t>> ForwardBatchSampled(ExecContext& ctx,
                                                           std::span<const SequenceChunk> batch,
                                                           PagedKvCache& cache,
                                                           std::span<const DeviceDraw> draws);
  bool samples_on_device() const;

  // Under expert parallelism every rank runs each pass in step: each ForwardBatch first tells
  // the others it is stepping, and a rank out of work calls FinishSteps, which keeps taking part
  // in the others' passes (with no tokens) until every rank has finished. A no-op without EP.
  absl::Status FinishSteps(ExecContext& ctx);
  // Under expert parallelism, tells the ranks waiting in FinishSteps that this rank is alive but
  // has no pass to run (an idle server), so they wait on instead of timing out in the comm
  // backend. They run no pass for it. A no-op without EP.
  absl::Status KeepAlive(ExecContext& ctx);

  // The cache geometry this model needs, for `num_blocks` blocks of `block_size` tokens (on the
  // model's device).
  KvCacheShape CacheShape(int64_t num_blocks, int64_t block_size = 16) const;
  const ModelConfig& config() const { return config_; }
  // Where the model runs; its ExecContext and KV cache must be there too.
  Device device() const { return device_; }
  // The MoE layers in order (dense-MLP layers have none).
  std::vector<const MoeLayer*> moe_layers() const;
  std::vector<MoeLayer*> moe_layers();

  struct Layer;  // one decoder layer's weights (moe_model.cc)

 private:
  explicit MoeModel(ModelConfig config);
  // The model on the GPU (random weights when checkpoint is nullptr).
  static absl::StatusOr<std::unique_ptr<MoeModel>> LoadOnGpu(const ModelConfig& config,
                                                             const Checkpoint* checkpoint,
                                                             const ModelOptions& options,
                                                             uint64_t seed, ExecContext& ctx);
  // GQA attention of one layer: q/k/v projections, norms, RoPE, cache, attention, o_proj.
  absl::StatusOr<Tensor> Attend(ExecContext& ctx, Layer& layer, int64_t index, const Tensor& x,
                                const Tensor& positions, std::span<const SequenceChunk> batch,
                                PagedKvCache& cache);
  // The first MoE layer after layer `index`, or nullptr.
  MoeLayer* NextMoeLayer(int64_t index);
  absl::StatusOr<Tensor> RunLayer(ExecContext& ctx, Layer& layer, int64_t index,
                                  const Tensor& hidden, const Tensor& token_ids,
                                  const Tensor& positions, std::span<const SequenceChunk> batch,
                                  PagedKvCache& cache);

  // Expert parallelism: every rank's signal this round, summed (an all-reduce), and one pass
  // through the MoE layers with no tokens.
  // What a rank adds to the all-reduce in RanksStepping: 1 when stepping, kKeepAlive when alive
  // without a pass, 0 when finished. The sum counts stepping ranks below kKeepAlive.
  // The same all-reduce tells every rank every rank's `tokens` in the step (the GPU path lays
  // out its direct exchange by them).
  static constexpr int64_t kKeepAlive = int64_t{1} << 32;
  absl::StatusOr<int64_t> RanksStepping(ExecContext& ctx, int64_t signal, int64_t tokens = 0);
  // Refuses empty chunks and chunks that would outgrow the context.
  absl::Status CheckBatch(std::span<const SequenceChunk> batch, const PagedKvCache& cache) const;
  absl::Status RunIdlePass(ExecContext& ctx);

  ModelConfig config_;
  Device device_ = Device::Cpu();
  std::unique_ptr<CudaNetwork> gpu_;  // the network when it runs on a GPU (the rest stay empty)
  std::shared_ptr<const ExpertParallelism> expert_parallel_;
  RopeConfig rope_;
  Tensor embed_;
  Tensor final_norm_;
  Tensor lm_head_;
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_MOE_MODEL_H_
