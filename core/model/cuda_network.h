// The MoE decoder on one NVIDIA GPU: MoeModel's network when the model is loaded with
// `--device cuda`. Weights live on the device in bf16 (from a checkpoint, or synthesized there
// for `--weights random`), activations in f32, the KV cache in bf16 (PagedKvCache on the
// device). A step is one stream of launches with no host round trip until the logits come back:
//
//   embedding gather -> per layer: RMSNorm -> qkv GEMM (cuBLAS) -> bias, q/k norm, RoPE ->
//   KV write -> paged GQA attention -> o_proj GEMM added into the residual -> RMSNorm ->
//   router GEMM -> the fused MoE layer (kernels/moe, added into the residual) [-> shared
//   expert] -> final RMSNorm of the wanted rows -> LM head GEMM -> logits to the host, or
//   sampled on the device with only the ids coming back (ForwardSampled).
//
// Dense MLP layers and Qwen2-MoE's shared expert run through the same MoE kernels as a single
// expert every token is routed to (weight 1, or the shared expert's sigmoid gate), so the GPU
// path has one MLP implementation. Kernels: kernels/dense (dense_cuda.h), kernels/moe.
//
// Architectures: Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE (GQA attention, softmax top-k routing),
// DeepSeek-V3 (latent attention in the absorbed form, grouped sigmoid routing, shared experts)
// and gpt-oss (sinks, sliding windows, a router bias, the clamped SwiGLU with expert biases;
// MXFP4 experts dequantized to bf16 at load). fp8 block-128 checkpoints keep MLPs whose width is
// a multiple of 128 in fp8 on the device (the MoE kernels dequantize them); other fp8 weights
// are dequantized to bf16 at load. Unsupported() names a shape the kernels refuse.
#ifndef SWITCHYARD_CORE_MODEL_CUDA_NETWORK_H_
#define SWITCHYARD_CORE_MODEL_CUDA_NETWORK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dense/paged_kv_cache.h"
#include "core/device/exec_context.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace sy {

struct ExpertParallelism;  // core/moe/expert_parallel.h
struct SequenceChunk;      // moe_model.h
struct DeviceDraw;         // moe_model.h

struct CudaNetworkOptions {
  // Synthesize weights on the device (uniform, scaled by 1 / sqrt(fan-in); norms 1) instead of
  // reading a checkpoint: full-size models run without a download.
  bool random_weights = false;
  uint64_t seed = 0;
  std::function<void(int64_t done, int64_t total)> progress;  // layers loaded
  // Expert parallelism (launch): this rank holds only its placement slots' experts, and each
  // MoE layer dispatches its tokens' bf16 inputs to the ranks holding their experts and adds
  // the weighted sums that come back. The placement is the one at load; steps run eagerly
  // (no CUDA graphs: the host reads each layer's routing to size the exchange).
  std::shared_ptr<const ExpertParallelism> expert_parallel;
};

class CudaNetwork {
 public:
  // "" when `config` runs on the GPU path (and this build has CUDA), else why not.
  static std::string Unsupported(const ModelConfig& config);

  // Uploads `checkpoint`'s weights (nullptr with options.random_weights) to ctx's device.
  // Errors name the tensor, or the device memory that ran out.
  static absl::StatusOr<std::unique_ptr<CudaNetwork>> Load(const ModelConfig& config,
                                                           const Checkpoint* checkpoint,
                                                           const CudaNetworkOptions& options,
                                                           ExecContext& ctx);
  ~CudaNetwork();

  // MoeModel::ForwardBatch on the device: reserves the cache blocks the batch needs, runs the
  // step on ctx's stream, commits the new tokens to the cache only when the whole step
  // succeeded, and returns the wanted rows' logits on the host (f32 [rows, vocab]).
  absl::StatusOr<Tensor> Forward(ExecContext& ctx, std::span<const SequenceChunk> batch,
                                 PagedKvCache& cache);
  // Forward, but the logits stay on the device: each draw samples its chunk's last row there
  // (kernels/dense LaunchSampleRows, the CPU Sampler's pipeline and random stream) and only the
  // ids come back, one per draw.
  absl::StatusOr<std::vector<int32_t>> ForwardSampled(ExecContext& ctx,
                                                      std::span<const SequenceChunk> batch,
                                                      PagedKvCache& cache,
                                                      std::span<const DeviceDraw> draws);
  // Whether callers should use ForwardSampled: yes unless SWITCHYARD_DEVICE_SAMPLING=0 (host
  // sampling, for A/B) or the vocabulary is beyond the kernel's.
  bool samples_on_device() const;

  // Under expert parallelism, a pass of every MoE layer with no tokens of this rank's own, so
  // the ranks that have tokens get this rank's experts (MoeModel::FinishSteps). Collective.
  absl::Status LendExperts(ExecContext& ctx);
  // Under expert parallelism, before each step or LendExperts: every rank's tokens in it (the
  // same vector on every rank), which picks how its MoE layers exchange: true when directly.
  absl::StatusOr<bool> BeginExpertParallelStep(ExecContext& ctx,
                                               std::span<const int64_t> rank_tokens);

  // Bytes of weights on the device.
  int64_t weight_bytes() const;

  struct Impl;

 private:
  explicit CudaNetwork(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CUDA_NETWORK_H_
