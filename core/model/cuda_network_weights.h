// The GPU decoder's weights (cuda_network.h) on the device: bf16 matrices for every GEMM, f32
// norms and biases, and each MLP's experts stacked with a device array of their pointers, the
// form the MoE kernels read. Internal to core/model's CUDA path.
#ifndef SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_
#define SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/checkpoint.h"
#include "core/model/cuda_network.h"
#include "core/tensor/tensor.h"
#include "kernels/moe/moe_cuda.h"

namespace sy {

// Experts of one MLP: the routed experts of a MoE layer, or a single expert (a dense MLP, a
// shared expert) that every token is routed to.
struct CudaExperts {
  int32_t count = 0;
  int64_t intermediate = 0;  // I
  Tensor gate_up;            // bf16 [count * 2I, H]: each expert's gate rows, then its up rows
  Tensor down;               // bf16 [count * H, I]
  Tensor pointers;           // device [2 * count] addresses: gate_up of each expert, then down

  kernels::MoeWeightsView View() const;
};

struct CudaLayerWeights {
  Tensor input_norm, post_norm;          // f32 [H]
  Tensor qkv;                            // bf16 [(heads + 2 kv_heads) * head_dim, H]: q, k, v rows
  std::optional<Tensor> qkv_bias;        // f32, Qwen2-MoE
  std::optional<Tensor> q_norm, k_norm;  // f32, Qwen3-MoE (per head) and OLMoE (across heads)
  Tensor o;                              // bf16 [H, heads * head_dim]
  std::optional<Tensor> router;          // bf16 [E, H]; absent in a dense-MLP layer
  CudaExperts mlp;                       // the routed experts, or the dense MLP
  std::optional<CudaExperts> shared;     // Qwen2-MoE's shared expert ...
  std::optional<Tensor> shared_gate;     // ... and its sigmoid gate, f32 [H]
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

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CUDA_NETWORK_WEIGHTS_H_
