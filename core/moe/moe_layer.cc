#include "core/moe/moe_layer.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/tensor/matmul.h"

namespace sy {
namespace {

double MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

absl::StatusOr<QTensor> Convert(const std::optional<Quantizer>& quantizer, ExecContext& ctx,
                                const Tensor& w) {
  if (!quantizer) return QTensor::Unquantized(w);
  return quantizer->QuantizeWeight(ctx, w);
}

}  // namespace

RoutingFunction RoutingFunction::FromRouter(Router router) {
  RoutingFunction f;
  f.name = router.component().full_name();
  f.top_k = router.top_k();
  f.route = [router](ExecContext& ctx, const RouterInputs& inputs) {
    return router.Route(ctx, inputs);
  };
  return f;
}

absl::StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(
    RoutingFunction router, std::optional<Quantizer> quantizer, Experts experts,
    const MoeWeights& weights, MoeLayerOptions options, ExecContext& ctx) {
  SY_RETURN_IF_ERROR(weights.Validate());
  std::unique_ptr<MoeLayer> layer(new MoeLayer(std::move(router), std::move(quantizer),
                                               std::move(experts), std::move(options)));
  layer->shape_ = weights.shape();
  layer->router_weight_ = weights.router;
  layer->correction_bias_ = weights.correction_bias;
  ExpertWeights& ew = layer->expert_weights_;
  ew.hidden = layer->shape_.hidden;
  ew.intermediate = layer->shape_.intermediate;
  for (int e = 0; e < layer->shape_.experts; ++e) {
    SY_ASSIGN_OR_RETURN(QTensor gate_up, Convert(layer->quantizer_, ctx, weights.gate_up[e]));
    SY_ASSIGN_OR_RETURN(QTensor down, Convert(layer->quantizer_, ctx, weights.down[e]));
    ew.gate_up.push_back(std::move(gate_up));
    ew.down.push_back(std::move(down));
  }
  if (weights.shared_gate_up) {
    ew.shared_intermediate = layer->shape_.shared_intermediate;
    SY_ASSIGN_OR_RETURN(ew.shared_gate_up,
                        Convert(layer->quantizer_, ctx, *weights.shared_gate_up));
    SY_ASSIGN_OR_RETURN(ew.shared_down, Convert(layer->quantizer_, ctx, *weights.shared_down));
    ew.shared_gate = weights.shared_gate;
  }
  SY_RETURN_IF_ERROR(layer->experts_.CheckSupports(ew));
  if (layer->quantizer_) {
    SY_ASSIGN_OR_RETURN(sy_qlayout act,
                        layer->quantizer_->ActivationLayout(1, layer->shape_.hidden));
    layer->quantize_activations_ = act.has_scales != 0 || act.dtype != SY_DTYPE_F32;
  }
  if (layer->router_.top_k < 1 || layer->router_.top_k > layer->shape_.experts) {
    return absl::InvalidArgumentError(
        absl::StrCat(layer->router_.name, ": k = ", layer->router_.top_k,
                     " must be between 1 and the layer's ", layer->shape_.experts, " experts"));
  }
  return layer;
}

absl::StatusOr<Tensor> MoeLayer::Forward(ExecContext& ctx, const Tensor& hidden,
                                         const std::optional<Tensor>& token_ids) {
  if (hidden.ndim() != 2 || hidden.dim(1) != shape_.hidden || hidden.dtype() != DType::kF32) {
    return absl::InvalidArgumentError(absl::StrCat("MoE layer ", options_.layer,
                                                   ": hidden must be f32 [tokens, ", shape_.hidden,
                                                   "], got ", hidden.Describe()));
  }
  auto start = std::chrono::steady_clock::now();
  SY_ASSIGN_OR_RETURN(Tensor logits, MatMulTransposed(hidden, router_weight_));
  SY_ASSIGN_OR_RETURN(RouterOutput routing,
                      router_.route(ctx, RouterInputs(logits, token_ids, correction_bias_)));
  CapacityOutcome capacity;
  if (options_.capacity) {
    SY_ASSIGN_OR_RETURN(capacity, ApplyCapacity(*options_.capacity, logits, routing));
  }
  last_router_micros_ = MicrosSince(start);
  if (options_.trace) SY_RETURN_IF_ERROR(options_.trace->Append(options_.layer, routing));

  start = std::chrono::steady_clock::now();
  SY_ASSIGN_OR_RETURN(Tensor out, experts_.Forward(ctx, hidden, routing, expert_weights_,
                                                   quantize_activations_ ? &*quantizer_ : nullptr));
  last_experts_micros_ = MicrosSince(start);
  last_load_ = MeasureLoad(routing, shape_.experts);
  last_load_.rerouted = capacity.rerouted;
  last_routing_ = std::move(routing);
  AccumulateLoad(last_load_, total_load_);
  total_router_micros_ += last_router_micros_;
  total_experts_micros_ += last_experts_micros_;
  return out;
}

void MoeLayer::WriteLastLoad(schema::LayerLoad::Builder out) const {
  WriteLayerLoad(last_load_, static_cast<uint32_t>(options_.layer), last_router_micros_,
                 last_experts_micros_, out);
}

void MoeLayer::WriteTotalLoad(schema::LayerLoad::Builder out) const {
  WriteLayerLoad(total_load_, static_cast<uint32_t>(options_.layer), total_router_micros_,
                 total_experts_micros_, out);
}

void MoeLayer::ResetTotalLoad() {
  total_load_ = ExpertLoad{};
  total_router_micros_ = 0;
  total_experts_micros_ = 0;
}

}  // namespace sy
