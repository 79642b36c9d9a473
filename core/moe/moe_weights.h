// The full-precision weights of one MoE layer, as a checkpoint holds them, before a quantizer
// converts the expert matrices.
#ifndef SWITCHYARD_CORE_MOE_MOE_WEIGHTS_H_
#define SWITCHYARD_CORE_MOE_MOE_WEIGHTS_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"
#include "switchyard/plugin_abi.h"

namespace sy {

struct MoeShape {
  int experts = 8;
  int64_t hidden = 256;
  int64_t intermediate = 512;
  int64_t shared_intermediate = 0;  // 0: no shared expert
  bool shared_gate = false;         // Qwen2-MoE's sigmoid gate on the shared expert
};

struct MoeWeights {
  Tensor router;                          // f32 [E, H]: logits = x . router^T
  std::optional<Tensor> correction_bias;  // f32 [E] (DeepSeek-V3 selection bias)
  std::vector<Tensor> gate_up;            // f32 [2I, H] per expert: gate rows, then up rows
  std::vector<Tensor> down;               // f32 [H, I] per expert
  std::optional<Tensor> shared_gate_up;   // f32 [2 * shared I, H]
  std::optional<Tensor> shared_down;      // f32 [H, shared I]
  std::optional<Tensor> shared_gate;      // f32 [H]
  // gpt-oss: a router bias (logits = x . router^T + bias), the clamped SwiGLU activation
  // (sy_expert_activation) and per-expert biases.
  std::optional<Tensor> router_bias;  // f32 [E]
  int32_t activation = SY_ACTIVATION_SILU;
  float swiglu_alpha = 1.702f;
  float swiglu_limit = 7.0f;
  std::optional<Tensor> gate_up_bias;  // f32 [E, 2I]: gate rows' biases, then up rows'
  std::optional<Tensor> down_bias;     // f32 [E, H]

  // Seeded N(0, 1/fan_in) weights of `shape`, the scale trained layers have.
  static absl::StatusOr<MoeWeights> Random(const MoeShape& shape, uint64_t seed);

  MoeShape shape() const;
  // Checks every tensor's shape and dtype; errors name the tensor.
  absl::Status Validate() const;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_MOE_WEIGHTS_H_
