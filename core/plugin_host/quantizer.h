// The host's view of a quantizer component: allocates what the quantizer's layouts call for
// and checks the results.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_QUANTIZER_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_QUANTIZER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/tensor/qtensor.h"

namespace sy {

class Quantizer {
 public:
  // Fails unless `component` is a quantizer.
  static absl::StatusOr<Quantizer> From(std::shared_ptr<Component> component);

  absl::StatusOr<sy_qlayout> WeightLayout(int64_t rows, int64_t cols) const;
  absl::StatusOr<sy_qlayout> ActivationLayout(int64_t rows, int64_t cols) const;
  // weight: f32 [rows, cols] on the context's device.
  absl::StatusOr<QTensor> QuantizeWeight(ExecContext& ctx, const Tensor& weight) const;
  // x: f32 [rows, cols]. Weight-only quantizers return x itself, unquantized.
  absl::StatusOr<QTensor> QuantizeActivation(ExecContext& ctx, const Tensor& x) const;

  // Lends the instance to another component for a call; valid while this Quantizer lives.
  sy_quantizer_ref Ref() const;
  const Component& component() const { return *component_; }

 private:
  explicit Quantizer(std::shared_ptr<Component> component) : component_(std::move(component)) {}
  const sy_quantizer_vtable& vtable() const {
    return *static_cast<const sy_quantizer_vtable*>(component_->vtable());
  }
  absl::StatusOr<sy_qlayout> Layout(bool weight, int64_t rows, int64_t cols) const;
  absl::StatusOr<QTensor> Quantize(bool weight, ExecContext& ctx, const Tensor& input) const;

  std::shared_ptr<Component> component_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_QUANTIZER_H_
