// The host's view of an experts component, and the expert weights of one MoE layer.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_EXPERTS_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_EXPERTS_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/quantizer.h"
#include "core/plugin_host/router.h"
#include "core/tensor/qtensor.h"

namespace sy {

// One layer's experts in whatever format they are stored (see sy_expert_weights).
struct ExpertWeights {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  std::vector<QTensor> gate_up;  // per expert [2I, H]
  std::vector<QTensor> down;     // per expert [H, I]
  int64_t shared_intermediate = 0;
  std::optional<QTensor> shared_gate_up;  // [2 * shared_intermediate, H]
  std::optional<QTensor> shared_down;     // [H, shared_intermediate]
  std::optional<Tensor> shared_gate;      // f32 [H]
  // gpt-oss: the activation (sy_expert_activation) and the routed experts' biases.
  int32_t activation = SY_ACTIVATION_SILU;
  float swiglu_alpha = 1.702f;
  float swiglu_limit = 7.0f;
  std::optional<Tensor> gate_up_bias;  // f32 [experts, 2I]
  std::optional<Tensor> down_bias;     // f32 [experts, H]

  int num_experts() const { return static_cast<int>(gate_up.size()); }
  // Checks every shape against hidden/intermediate; errors name the expert and the matrix.
  absl::Status Validate() const;
  // Bytes of all expert matrices (routed and shared).
  int64_t nbytes() const;
};

class Experts {
 public:
  // Fails unless `component` is an experts component.
  static absl::StatusOr<Experts> From(std::shared_ptr<Component> component);

  bool Supports(const sy_qlayout& layout) const;
  // Whether forward() computes `activation` with expert biases (plugins built before ABI 1.3
  // compute SiLU without biases only).
  bool SupportsActivation(int32_t activation) const;
  // An error naming the first matrix of `weights` stored in a format this component refuses,
  // or the activation it does not compute.
  absl::Status CheckSupports(const ExpertWeights& weights) const;
  // output[t] = sum_j weights[t, j] * expert(ids[t, j], hidden[t]) (+ the shared expert).
  // hidden: f32 [tokens, H]; `activation_quantizer` quantizes each GEMM's input when given.
  absl::StatusOr<Tensor> Forward(ExecContext& ctx, const Tensor& hidden,
                                 const RouterOutput& routing, const ExpertWeights& weights,
                                 const Quantizer* activation_quantizer = nullptr) const;
  // Whether the component acts on prefetch hints (ABI 1.4; older plugins do not).
  bool WantsPrefetch() const;
  // Tells the component the next Forward with `weights` will likely route to `expert_ids`
  // (i32 [tokens, k], -1 skipped): a prediction it may use to move experts closer. A no-op for
  // components that do not want hints.
  absl::Status Prefetch(ExecContext& ctx, const ExpertWeights& weights,
                        const Tensor& expert_ids) const;
  const Component& component() const { return *component_; }

 private:
  explicit Experts(std::shared_ptr<Component> component) : component_(std::move(component)) {}
  const sy_experts_vtable& vtable() const {
    return *static_cast<const sy_experts_vtable*>(component_->vtable());
  }

  std::shared_ptr<Component> component_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_EXPERTS_H_
