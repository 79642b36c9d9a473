#include "core/plugin_host/router.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {
namespace {

absl::Status CheckInputs(const RouterInputs& in, const Device& device) {
  const Tensor& logits = in.logits;
  if (logits.ndim() != 2 || (logits.dtype() != DType::kF32 && logits.dtype() != DType::kBF16)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "router logits must be f32 or bf16 [tokens, experts], got ", logits.Describe()));
  }
  if (logits.device() != device) {
    return absl::InvalidArgumentError(absl::StrCat("router logits are on ",
                                                   logits.device().ToString(),
                                                   ", the call runs on ", device.ToString()));
  }
  for (const auto* optional : {&in.token_ids, &in.correction_bias}) {
    if (*optional && (*optional)->device() != device) {
      return absl::InvalidArgumentError(
          absl::StrCat("router input ", (*optional)->Describe(), " is not on ", device.ToString()));
    }
  }
  if (in.token_ids && (in.token_ids->ndim() != 1 || in.token_ids->dtype() != DType::kI32 ||
                       in.token_ids->dim(0) != logits.dim(0))) {
    return absl::InvalidArgumentError(absl::StrCat("token_ids must be i32 [", logits.dim(0),
                                                   "], got ", in.token_ids->Describe()));
  }
  if (in.correction_bias &&
      (in.correction_bias->ndim() != 1 || in.correction_bias->dtype() != DType::kF32 ||
       in.correction_bias->dim(0) != logits.dim(1))) {
    return absl::InvalidArgumentError(absl::StrCat("correction_bias must be f32 [", logits.dim(1),
                                                   "], got ", in.correction_bias->Describe()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRouterOutput(const RouterOutput& out, int64_t experts,
                                  absl::string_view name) {
  const int64_t n = out.expert_ids.numel();
  const auto* ids = out.expert_ids.data<int32_t>();
  const auto* weights = out.expert_weights.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t token = i / out.expert_ids.dim(1);
    if (ids[i] < -1 || ids[i] >= experts) {
      return absl::InternalError(absl::StrCat(name, " returned expert id ", ids[i], " for token ",
                                              token, " (experts: ", experts, ")"));
    }
    if (!std::isfinite(weights[i])) {
      return absl::InternalError(
          absl::StrCat(name, " returned a non-finite weight for token ", token));
    }
    if (ids[i] == -1 && weights[i] != 0.0f) {
      return absl::InternalError(
          absl::StrCat(name, " gave a dropped slot of token ", token, " a nonzero weight"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Router> Router::From(std::shared_ptr<Component> component) {
  if (component->kind() != SY_KIND_ROUTER) {
    return absl::InvalidArgumentError(absl::StrCat(component->full_name(), " is not a router"));
  }
  return Router(std::move(component));
}

int Router::top_k() const { return vtable().top_k(component_->instance()); }

absl::StatusOr<RouterOutput> Router::Route(ExecContext& ctx, const RouterInputs& inputs) const {
  SY_RETURN_IF_ERROR(CheckInputs(inputs, ctx.device()));
  const int64_t tokens = inputs.logits.dim(0);
  const int k = top_k();
  if (k <= 0 || k > inputs.logits.dim(1)) {
    return absl::InvalidArgumentError(absl::StrCat(component_->full_name(), ": top_k ", k,
                                                   " is not in [1, ", inputs.logits.dim(1),
                                                   "] experts"));
  }
  RouterOutput out;
  SY_ASSIGN_OR_RETURN(out.expert_ids, Tensor::Empty({tokens, k}, DType::kI32, ctx.device()));
  SY_ASSIGN_OR_RETURN(out.expert_weights, Tensor::Empty({tokens, k}, DType::kF32, ctx.device()));

  const sy_tensor logits = inputs.logits.ToC();
  const sy_tensor token_ids = inputs.token_ids ? inputs.token_ids->ToC() : sy_tensor{};
  const sy_tensor bias = inputs.correction_bias ? inputs.correction_bias->ToC() : sy_tensor{};
  sy_tensor ids = out.expert_ids.ToC();
  sy_tensor weights = out.expert_weights.ToC();
  const sy_router_args args = {sizeof(sy_router_args),
                               &logits,
                               inputs.token_ids ? &token_ids : nullptr,
                               inputs.correction_bias ? &bias : nullptr,
                               &ids,
                               &weights};
  SY_RETURN_IF_ERROR(TakePluginError(vtable().route(component_->instance(), ctx.BeginCall(), &args),
                                     absl::StrCat(component_->full_name(), ": route")));
  if (ctx.device().is_cpu()) {
    SY_RETURN_IF_ERROR(ValidateRouterOutput(out, inputs.logits.dim(1), component_->full_name()));
  }
  return out;
}

}  // namespace sy
