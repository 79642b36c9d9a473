// The GPU decoder's weights (cuda_network.h) on the device: bf16 matrices for every GEMM (experts
// of fp8 block-128 checkpoints: fp8 with their scales), f32 norms and biases, and each MLP's
// experts stacked with a device array of their pointers, the form the MoE kernels read. Internal to
// core/model's CUDA path.
#ifndef SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_
#define SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/checkpoint.h"
#include "core/model/cuda_network.h"
#include "core/model/tensor_names.h"
#include "core/tensor/tensor.h"
#include "kernels/moe/moe_cuda.h"

namespace sy {

// Where a stack of routed experts came from, so that slots can be re-filled with other experts
// when online rebalancing moves them (RefillExpertSlots).
struct ExpertOrigin {
  std::string prefix;  // "model.layers.<L>.mlp.experts."
  ExpertNames names;
  int64_t hidden = 0;
  uint64_t gate_up_seed = 0, down_seed = 0;  // random weights: what each stack was drawn from
};

// Experts of one MLP: the routed experts of a MoE layer, or a single expert (a dense MLP, a
// shared expert) that every token is routed to.
struct CudaExperts {
  int32_t count = 0;
  int64_t intermediate = 0;  // I
  // bf16, or fp8 e4m3 with 128 x 128 block scales kept from a DeepSeek-V3 fp8 checkpoint.
  kernels::MoeWeightFormat format = kernels::MoeWeightFormat::kBf16;
  Tensor gate_up;  // [count * 2I, H]: each expert's gate rows, then its up rows
  Tensor down;     // [count * H, I]
  // fp8: f32 scales, each expert's grid in turn: gate_up [2I/128, ceil(H/128)] (the gate and up
  // grids stacked), down [ceil(H/128), ceil(I/128)].
  std::optional<Tensor> gate_up_scales, down_scales;
  // device addresses: gate_up of each expert, then down (fp8: then their scales likewise)
  Tensor pointers;
  // gpt-oss: the clamped SwiGLU and per-expert biases (f32 [count, 2I] and [count, H]).
  kernels::MoeActivation activation = kernels::MoeActivation::kSwiglu;
  float swiglu_alpha = 1.702f, swiglu_limit = 7.0f;
  std::optional<Tensor> gate_up_bias, down_bias;
  std::optional<ExpertOrigin> origin;  // routed experts (not gpt-oss's fused stacks)

  kernels::MoeWeightsView View() const;
  // The MoE kernels' plan for `problem` over these experts: their format decides the path and
  // the scratch (fp8 prefill quantizes activations).
  kernels::MoePlan Plan(const kernels::MoeProblem& problem) const;
};

// DeepSeek-V3's latent attention (core/model/mla_block.h names the tensors).
struct CudaMlaWeights {
  std::optional<Tensor> q_a;       // bf16 [q_lora_rank, H]: the q LoRA's down projection ...
  std::optional<Tensor> q_a_bias;  // f32 [q_lora_rank]
  std::optional<Tensor> q_a_norm;  // f32 [q_lora_rank]
  Tensor q;     // bf16 [heads * qk_head_dim, q_lora_rank]: ... q_b_proj; or q_proj
  Tensor kv_a;  // bf16 [rank + rope, H]
  std::optional<Tensor> kv_a_bias;
  Tensor kv_a_norm;  // f32 [rank]
  Tensor kv_b;  // bf16 [heads * (nope + v), rank]: per head W_UK_h (nope rows), W_UV_h (v rows)
};

struct CudaLayerWeights {
  Tensor input_norm, post_norm;          // f32 [H]
  Tensor qkv;                            // bf16 [(heads + 2 kv_heads) * head_dim, H]: q, k, v rows
  std::optional<CudaMlaWeights> mla;     // instead of qkv, DeepSeek-V3
  std::optional<Tensor> qkv_bias;        // f32, Qwen2-MoE, gpt-oss
  std::optional<Tensor> sinks;           // f32 [heads], gpt-oss
  std::optional<Tensor> q_norm, k_norm;  // f32, Qwen3-MoE (per head) and OLMoE (across heads)
  Tensor o;                              // bf16 [H, heads * head_dim (MLA: v_head_dim)]
  std::optional<Tensor> o_bias;          // f32 [H], gpt-oss and MLA with attention_bias
  std::optional<Tensor> router;          // f32 [E, H] (flat); absent in a dense-MLP layer
  std::optional<Tensor> router_bias;     // f32 [E], DeepSeek-V3's e_score_correction_bias
  std::optional<Tensor> router_logit_bias;  // f32 [E], gpt-oss: added to the logits
  CudaExperts mlp;                          // the routed experts, or the dense MLP
  std::optional<CudaExperts> shared;        // Qwen2-MoE's shared expert, DeepSeek's shared experts
  std::optional<Tensor> shared_gate;        // Qwen2-MoE's sigmoid gate of it, f32 [H]
};

struct CudaWeights {
  Tensor embed;       // bf16 [vocab, H]
  Tensor final_norm;  // f32 [H]
  Tensor lm_head;     // bf16 [vocab, H] (the embedding itself when tied)
  std::vector<CudaLayerWeights> layers;
  int64_t bytes = 0;  // on the device
};

// Reads `checkpoint` (nullptr with options.random_weights: synthesized on the device) onto
// `device`, on `stream`; returns once the weights are in place.
absl::StatusOr<CudaWeights> LoadCudaWeights(const ModelConfig& config, const Checkpoint* checkpoint,
                                            const CudaNetworkOptions& options, Device device,
                                            void* stream);

// A slot of a stack to hold another expert (its index in the whole model).
struct SlotRefill {
  int32_t slot = 0;
  int32_t expert = 0;
};

// Writes each refill's expert into its slot of `experts`, from `checkpoint` (nullptr: the random
// weights drawn at load, from the stack's seeds, so a slot holds what it would have held had the
// expert been placed there at load), on `stream`; returns once they are in place. The slots'
// addresses stay, so the stack's pointer array stays valid.
absl::Status RefillExpertSlots(const Checkpoint* checkpoint, std::span<const SlotRefill> refills,
                               CudaExperts& experts, Device device, void* stream);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_
