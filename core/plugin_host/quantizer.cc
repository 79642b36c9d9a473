#include "core/plugin_host/quantizer.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {

absl::StatusOr<Quantizer> Quantizer::From(std::shared_ptr<Component> component) {
  if (component->kind() != SY_KIND_QUANTIZER) {
    return absl::InvalidArgumentError(absl::StrCat(component->full_name(), " is not a quantizer"));
  }
  return Quantizer(std::move(component));
}

absl::StatusOr<sy_qlayout> Quantizer::Layout(bool weight, int64_t rows, int64_t cols) const {
  sy_qlayout layout{};
  const auto fn = weight ? vtable().weight_layout : vtable().activation_layout;
  const char* what = weight ? "weight_layout" : "activation_layout";
  SY_RETURN_IF_ERROR(TakePluginError(fn(component_->instance(), rows, cols, &layout),
                                     absl::StrCat(component_->full_name(), ": ", what)));
  if (auto s = ValidateLayout(layout, rows, cols); !s.ok()) {
    return absl::InternalError(
        absl::StrCat(component_->full_name(), ": ", what, " returned a bad layout: ", s.message()));
  }
  return layout;
}

absl::StatusOr<sy_qlayout> Quantizer::WeightLayout(int64_t rows, int64_t cols) const {
  return Layout(true, rows, cols);
}

absl::StatusOr<sy_qlayout> Quantizer::ActivationLayout(int64_t rows, int64_t cols) const {
  return Layout(false, rows, cols);
}

absl::StatusOr<QTensor> Quantizer::Quantize(bool weight, ExecContext& ctx,
                                            const Tensor& input) const {
  if (input.ndim() != 2 || input.dtype() != DType::kF32 || !input.is_contiguous() ||
      input.device() != ctx.device()) {
    return absl::InvalidArgumentError(
        absl::StrCat(component_->full_name(), ": expected a contiguous f32 matrix on ",
                     ctx.device().ToString(), ", got ", input.Describe()));
  }
  SY_ASSIGN_OR_RETURN(sy_qlayout layout, Layout(weight, input.dim(0), input.dim(1)));
  if (!weight && !layout.has_scales && layout.dtype == SY_DTYPE_F32)
    return QTensor::Unquantized(input);
  SY_ASSIGN_OR_RETURN(QTensor out,
                      QTensor::Allocate(layout, input.dim(0), input.dim(1), ctx.device()));
  const sy_tensor in = input.ToC();
  sy_qtensor c = out.ToC();
  const auto fn = weight ? vtable().quantize_weight : vtable().quantize_activation;
  SY_RETURN_IF_ERROR(
      TakePluginError(fn(component_->instance(), ctx.BeginCall(), &in, &c),
                      absl::StrCat(component_->full_name(),
                                   weight ? ": quantize_weight" : ": quantize_activation")));
  return out;
}

absl::StatusOr<QTensor> Quantizer::QuantizeWeight(ExecContext& ctx, const Tensor& weight) const {
  return Quantize(true, ctx, weight);
}

absl::StatusOr<QTensor> Quantizer::QuantizeActivation(ExecContext& ctx, const Tensor& x) const {
  return Quantize(false, ctx, x);
}

sy_quantizer_ref Quantizer::Ref() const {
  return {static_cast<const sy_quantizer_vtable*>(component_->vtable()), component_->instance()};
}

}  // namespace sy
