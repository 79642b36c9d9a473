#include "core/plugin_host/experts.h"

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {
namespace {

absl::Status CheckBias(const std::optional<Tensor>& bias, int64_t experts, int64_t width,
                       const char* what) {
  if (!bias || (bias->ndim() == 2 && bias->dim(0) == experts && bias->dim(1) == width &&
                bias->dtype() == DType::kF32 && bias->is_contiguous())) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(what, " must be contiguous f32 [", experts, ", ",
                                                 width, "], got ", bias->Describe()));
}

absl::Status CheckMatrix(const QTensor& q, int64_t rows, int64_t cols, const std::string& what) {
  if (q.values.ndim() != 2 || q.rows() != rows || q.cols() != cols) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be [", rows, ", ", cols, "], got ",
                                                   ShapeToString(q.values.shape())));
  }
  return absl::OkStatus();
}

// The C view of ExpertWeights for one call: the sy_qtensor arrays it points into live here.
class CExpertWeights {
 public:
  explicit CExpertWeights(const ExpertWeights& w) {
    for (const auto& q : w.gate_up) gate_up_.push_back(q.ToC());
    for (const auto& q : w.down) down_.push_back(q.ToC());
    if (w.shared_intermediate > 0) {
      shared_gate_up_ = w.shared_gate_up->ToC();
      shared_down_ = w.shared_down->ToC();
    }
    if (w.shared_gate) shared_gate_ = w.shared_gate->ToC();
    if (w.gate_up_bias) gate_up_bias_ = w.gate_up_bias->ToC();
    if (w.down_bias) down_bias_ = w.down_bias->ToC();
    c_ = {sizeof(sy_expert_weights),
          w.num_experts(),
          w.hidden,
          w.intermediate,
          gate_up_.data(),
          down_.data(),
          w.shared_intermediate,
          w.shared_intermediate > 0 ? &shared_gate_up_ : nullptr,
          w.shared_intermediate > 0 ? &shared_down_ : nullptr,
          w.shared_gate ? &shared_gate_ : nullptr,
          w.activation,
          w.swiglu_alpha,
          w.swiglu_limit,
          w.gate_up_bias ? &gate_up_bias_ : nullptr,
          w.down_bias ? &down_bias_ : nullptr};
  }
  CExpertWeights(const CExpertWeights&) = delete;
  CExpertWeights& operator=(const CExpertWeights&) = delete;

  const sy_expert_weights* get() const { return &c_; }

 private:
  std::vector<sy_qtensor> gate_up_, down_;
  sy_qtensor shared_gate_up_{}, shared_down_{};
  sy_tensor shared_gate_{}, gate_up_bias_{}, down_bias_{};
  sy_expert_weights c_{};
};

}  // namespace

absl::Status ExpertWeights::Validate() const {
  if (gate_up.empty() || gate_up.size() != down.size()) {
    return absl::InvalidArgumentError(absl::StrCat("expert weights: ", gate_up.size(),
                                                   " gate_up and ", down.size(),
                                                   " down matrices (need the same nonzero count)"));
  }
  for (size_t e = 0; e < gate_up.size(); ++e) {
    SY_RETURN_IF_ERROR(
        CheckMatrix(gate_up[e], 2 * intermediate, hidden, absl::StrCat("expert ", e, " gate_up")));
    SY_RETURN_IF_ERROR(
        CheckMatrix(down[e], hidden, intermediate, absl::StrCat("expert ", e, " down")));
  }
  if (shared_intermediate > 0) {
    if (!shared_gate_up || !shared_down)
      return absl::InvalidArgumentError("shared expert: missing gate_up or down");
    SY_RETURN_IF_ERROR(
        CheckMatrix(*shared_gate_up, 2 * shared_intermediate, hidden, "shared expert gate_up"));
    SY_RETURN_IF_ERROR(
        CheckMatrix(*shared_down, hidden, shared_intermediate, "shared expert down"));
  }
  SY_RETURN_IF_ERROR(CheckBias(gate_up_bias, num_experts(), 2 * intermediate, "gate_up bias"));
  SY_RETURN_IF_ERROR(CheckBias(down_bias, num_experts(), hidden, "down bias"));
  if (activation != SY_ACTIVATION_SILU && activation != SY_ACTIVATION_CLAMPED_SWIGLU) {
    return absl::InvalidArgumentError(absl::StrCat("unknown expert activation ", activation));
  }
  if (shared_gate && (shared_gate->ndim() != 1 || shared_gate->dim(0) != hidden ||
                      shared_gate->dtype() != DType::kF32)) {
    return absl::InvalidArgumentError(absl::StrCat("shared expert gate must be f32 [", hidden,
                                                   "], got ", shared_gate->Describe()));
  }
  return absl::OkStatus();
}

int64_t ExpertWeights::nbytes() const {
  int64_t total = 0;
  for (const auto& q : gate_up) total += q.nbytes();
  for (const auto& q : down) total += q.nbytes();
  if (shared_gate_up) total += shared_gate_up->nbytes() + shared_down->nbytes();
  return total;
}

absl::StatusOr<Experts> Experts::From(std::shared_ptr<Component> component) {
  if (component->kind() != SY_KIND_EXPERTS) {
    return absl::InvalidArgumentError(
        absl::StrCat(component->full_name(), " is not an experts component"));
  }
  return Experts(std::move(component));
}

bool Experts::Supports(const sy_qlayout& layout) const {
  return vtable().supports(component_->instance(), &layout) != 0;
}

bool Experts::SupportsActivation(int32_t activation) const {
  const sy_experts_vtable& v = vtable();
  const bool has_query = v.struct_size >= offsetof(sy_experts_vtable, supports_activation) +
                                              sizeof(v.supports_activation) &&
                         v.supports_activation != nullptr;
  if (!has_query) return activation == SY_ACTIVATION_SILU;
  return v.supports_activation(component_->instance(), activation) != 0;
}

bool Experts::WantsPrefetch() const {
  const sy_experts_vtable& v = vtable();
  const bool has_prefetch =
      v.struct_size >= offsetof(sy_experts_vtable, prefetch) + sizeof(v.prefetch) &&
      v.wants_prefetch != nullptr && v.prefetch != nullptr;
  return has_prefetch && v.wants_prefetch(component_->instance()) != 0;
}

absl::Status Experts::Prefetch(ExecContext& ctx, const ExpertWeights& weights,
                               const Tensor& expert_ids) const {
  if (!WantsPrefetch()) return absl::OkStatus();
  if (expert_ids.ndim() != 2 || expert_ids.dtype() != DType::kI32 || !expert_ids.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(component_->full_name(),
                                                   ": prefetch ids must be i32 [tokens, k], got ",
                                                   expert_ids.Describe()));
  }
  const CExpertWeights c_weights(weights);
  const sy_tensor c_ids = expert_ids.ToC();
  return TakePluginError(
      vtable().prefetch(component_->instance(), ctx.BeginCall(), c_weights.get(), &c_ids),
      absl::StrCat(component_->full_name(), ": prefetch"));
}

absl::Status Experts::CheckSupports(const ExpertWeights& weights) const {
  std::vector<const QTensor*> matrices;
  for (const auto& q : weights.gate_up) matrices.push_back(&q);
  for (const auto& q : weights.down) matrices.push_back(&q);
  if (weights.shared_gate_up) matrices.push_back(&*weights.shared_gate_up);
  if (weights.shared_down) matrices.push_back(&*weights.shared_down);
  const bool extended =
      weights.activation != SY_ACTIVATION_SILU || weights.gate_up_bias || weights.down_bias;
  if (extended && !SupportsActivation(weights.activation)) {
    return absl::UnimplementedError(absl::StrCat(
        component_->full_name(), " does not compute expert activation ", weights.activation,
        weights.activation == SY_ACTIVATION_CLAMPED_SWIGLU ? " (gpt-oss's clamped SwiGLU)" : "",
        " with expert biases; experts.cpu does"));
  }
  for (const QTensor* q : matrices) {
    if (!Supports(q->layout)) {
      return absl::UnimplementedError(absl::StrCat(
          component_->full_name(), " cannot compute on weights stored as ", q->DescribeLayout()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Experts::Forward(ExecContext& ctx, const Tensor& hidden,
                                        const RouterOutput& routing, const ExpertWeights& weights,
                                        const Quantizer* activation_quantizer) const {
  const std::string& name = component_->full_name();
  SY_RETURN_IF_ERROR(weights.Validate());
  if (hidden.ndim() != 2 || hidden.dtype() != DType::kF32 || hidden.dim(1) != weights.hidden ||
      !hidden.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(name,
                                                   ": hidden must be contiguous f32 [tokens, ",
                                                   weights.hidden, "], got ", hidden.Describe()));
  }
  const Tensor& ids = routing.expert_ids;
  if (ids.ndim() != 2 || ids.dim(0) != hidden.dim(0) ||
      routing.expert_weights.shape() != ids.shape()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": routing ", ids.Describe(),
                                                   " does not match hidden ", hidden.Describe()));
  }
  SY_RETURN_IF_ERROR(CheckSupports(weights));
  const CExpertWeights c_weights(weights);

  SY_ASSIGN_OR_RETURN(Tensor output, Tensor::Empty(hidden.shape(), DType::kF32, ctx.device()));
  const sy_tensor c_hidden = hidden.ToC(), c_ids = ids.ToC(),
                  c_weights_t = routing.expert_weights.ToC();
  sy_tensor c_output = output.ToC();
  const sy_quantizer_ref quantizer =
      activation_quantizer ? activation_quantizer->Ref() : sy_quantizer_ref{};
  const sy_experts_args args = {sizeof(sy_experts_args),
                                &c_hidden,
                                &c_ids,
                                &c_weights_t,
                                c_weights.get(),
                                activation_quantizer ? &quantizer : nullptr,
                                &c_output};
  SY_RETURN_IF_ERROR(
      TakePluginError(vtable().forward(component_->instance(), ctx.BeginCall(), &args),
                      absl::StrCat(name, ": forward")));
  return output;
}

}  // namespace sy
