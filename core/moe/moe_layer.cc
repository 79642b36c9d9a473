#include "core/moe/moe_layer.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

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

// Rows `experts` of a per-expert [E, n] tensor (the experts a rank holds), or nullopt.
absl::StatusOr<std::optional<Tensor>> SelectRows(const std::optional<Tensor>& t,
                                                 const std::vector<int>& experts) {
  if (!t) return std::optional<Tensor>();
  const int64_t width = t->dim(1);
  SY_ASSIGN_OR_RETURN(Tensor out,
                      Tensor::Empty({static_cast<int64_t>(experts.size()), width}, DType::kF32));
  for (size_t i = 0; i < experts.size(); ++i) {
    std::copy_n(t->data<float>() + experts[i] * width, width, out.data<float>() + i * width);
  }
  return std::optional<Tensor>(std::move(out));
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

absl::StatusOr<ExpertWeights> MoeLayer::ConvertExperts(ExecContext& ctx, const MoeWeights& weights,
                                                       const std::vector<int>& experts,
                                                       bool with_shared) {
  ExpertWeights ew;
  ew.hidden = shape_.hidden;
  ew.intermediate = shape_.intermediate;
  for (int e : experts) {
    SY_ASSIGN_OR_RETURN(QTensor gate_up, Convert(quantizer_, ctx, weights.gate_up[e]));
    SY_ASSIGN_OR_RETURN(QTensor down, Convert(quantizer_, ctx, weights.down[e]));
    ew.gate_up.push_back(std::move(gate_up));
    ew.down.push_back(std::move(down));
  }
  ew.activation = weights.activation;
  ew.swiglu_alpha = weights.swiglu_alpha;
  ew.swiglu_limit = weights.swiglu_limit;
  SY_ASSIGN_OR_RETURN(ew.gate_up_bias, SelectRows(weights.gate_up_bias, experts));
  SY_ASSIGN_OR_RETURN(ew.down_bias, SelectRows(weights.down_bias, experts));
  if (with_shared && weights.shared_gate_up) {
    ew.shared_intermediate = shape_.shared_intermediate;
    SY_ASSIGN_OR_RETURN(ew.shared_gate_up, Convert(quantizer_, ctx, *weights.shared_gate_up));
    SY_ASSIGN_OR_RETURN(ew.shared_down, Convert(quantizer_, ctx, *weights.shared_down));
    ew.shared_gate = weights.shared_gate;
  }
  return ew;
}

absl::Status MoeLayer::ShardExperts(ExecContext& ctx) {
  const ExpertParallelism& ep = *options_.expert_parallel;
  const std::shared_ptr<const ExpertPlacement> in_force = ep.placement;
  const ExpertPlacement& placement = *in_force;
  if (placement.shape().num_experts != shape_.experts) {
    return absl::InvalidArgumentError(absl::StrCat("MoE layer ", options_.layer, " has ",
                                                   shape_.experts, " experts, the placement ",
                                                   placement.shape().num_experts));
  }
  const int spr = placement.shape().slots_per_rank;
  std::vector<int> local;
  for (int i = 0; i < spr; ++i)
    local.push_back(placement.expert(options_.moe_index, ep.rank() * spr + i));
  SY_ASSIGN_OR_RETURN(expert_weights_, ConvertExperts(ctx, *source_, local, false));
  if (source_->shared_gate_up) {
    // Shares the routed matrices' buffers; only the shared expert is new.
    SY_ASSIGN_OR_RETURN(ExpertWeights shared, ConvertExperts(ctx, *source_, {}, true));
    shared.gate_up = expert_weights_.gate_up;
    shared.down = expert_weights_.down;
    shared_weights_ = std::move(shared);
  }
  sharded_for_ = in_force;
  return experts_.CheckSupports(expert_weights_);
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
  layer->router_bias_ = weights.router_bias;
  if (layer->options_.expert_parallel) {
    layer->source_ = std::make_shared<const MoeWeights>(weights);
    SY_RETURN_IF_ERROR(layer->ShardExperts(ctx));
  } else {
    std::vector<int> all(layer->shape_.experts);
    for (int e = 0; e < layer->shape_.experts; ++e) all[e] = e;
    SY_ASSIGN_OR_RETURN(layer->expert_weights_, layer->ConvertExperts(ctx, weights, all, true));
    SY_RETURN_IF_ERROR(layer->experts_.CheckSupports(layer->expert_weights_));
  }
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

absl::StatusOr<RouterOutput> MoeLayer::Route(ExecContext& ctx, const Tensor& hidden,
                                             const std::optional<Tensor>& token_ids,
                                             CapacityOutcome& capacity) {
  if (hidden.dim(0) == 0) {  // an idle rank under expert parallelism
    RouterOutput none;
    SY_ASSIGN_OR_RETURN(none.expert_ids, Tensor::Empty({0, router_.top_k}, DType::kI32));
    SY_ASSIGN_OR_RETURN(none.expert_weights, Tensor::Empty({0, router_.top_k}, DType::kF32));
    return none;
  }
  SY_ASSIGN_OR_RETURN(Tensor logits, MatMulTransposed(hidden, router_weight_));
  if (router_bias_) {
    float* l = logits.data<float>();
    const float* b = router_bias_->data<float>();
    for (int64_t t = 0; t < logits.dim(0); ++t) {
      for (int64_t e = 0; e < logits.dim(1); ++e) l[t * logits.dim(1) + e] += b[e];
    }
  }
  SY_ASSIGN_OR_RETURN(RouterOutput routing,
                      router_.route(ctx, RouterInputs(logits, token_ids, correction_bias_)));
  if (options_.capacity) {
    SY_ASSIGN_OR_RETURN(capacity, ApplyCapacity(*options_.capacity, logits, routing));
  }
  return routing;
}

absl::Status MoeLayer::Prefetch(ExecContext& ctx, const Tensor& hidden) {
  if (options_.expert_parallel || hidden.dim(0) == 0 || !experts_.WantsPrefetch()) {
    return absl::OkStatus();
  }
  SY_ASSIGN_OR_RETURN(Tensor logits, MatMulTransposed(hidden, router_weight_));
  const int64_t tokens = logits.dim(0), experts = logits.dim(1);
  const int64_t k = std::min<int64_t>(router_.top_k, experts);
  SY_ASSIGN_OR_RETURN(Tensor ids, Tensor::Empty({tokens, k}, DType::kI32));
  std::vector<float> score(experts);
  std::vector<int32_t> order(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t e = 0; e < experts; ++e) {
      score[e] = logits.data<float>()[t * experts + e] +
                 (router_bias_ ? router_bias_->data<float>()[e] : 0.0f) +
                 (correction_bias_ ? correction_bias_->data<float>()[e] : 0.0f);
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return score[a] > score[b]; });
    std::copy_n(order.begin(), k, ids.data<int32_t>() + t * k);
  }
  return experts_.Prefetch(ctx, expert_weights_, ids);
}

absl::StatusOr<Tensor> MoeLayer::ForwardExperts(ExecContext& ctx, const Tensor& hidden,
                                                const RouterOutput& routing) {
  const Quantizer* activations = quantize_activations_ ? &*quantizer_ : nullptr;
  if (!options_.expert_parallel) {
    return experts_.Forward(ctx, hidden, routing, expert_weights_, activations);
  }
  if (sharded_for_ != options_.expert_parallel->placement) {
    SY_RETURN_IF_ERROR(ShardExperts(ctx));  // the placement moved experts since the last step
  }
  const auto local = [&](const Tensor& x, const RouterOutput& r) -> absl::StatusOr<Tensor> {
    if (x.dim(0) == 0) return Tensor::Empty({0, shape_.hidden}, DType::kF32);
    return experts_.Forward(ctx, x, r, expert_weights_, activations);
  };
  SY_ASSIGN_OR_RETURN(Tensor out, RunExpertParallel(ctx, *options_.expert_parallel,
                                                    options_.moe_index, hidden, routing, local));
  if (shared_weights_ && hidden.dim(0) > 0) {
    // The shared expert alone: every routed slot dropped.
    RouterOutput none;
    SY_ASSIGN_OR_RETURN(none.expert_ids, Tensor::Empty(routing.expert_ids.shape(), DType::kI32));
    SY_ASSIGN_OR_RETURN(none.expert_weights,
                        Tensor::Zeros(routing.expert_ids.shape(), DType::kF32));
    std::fill_n(none.expert_ids.data<int32_t>(), none.expert_ids.numel(), -1);
    SY_ASSIGN_OR_RETURN(Tensor shared,
                        experts_.Forward(ctx, hidden, none, *shared_weights_, activations));
    float* o = out.data<float>();
    const float* y = shared.data<float>();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] += y[i];
  }
  return out;
}

absl::StatusOr<Tensor> MoeLayer::Forward(ExecContext& ctx, const Tensor& hidden,
                                         const std::optional<Tensor>& token_ids) {
  if (hidden.ndim() != 2 || hidden.dim(1) != shape_.hidden || hidden.dtype() != DType::kF32) {
    return absl::InvalidArgumentError(absl::StrCat("MoE layer ", options_.layer,
                                                   ": hidden must be f32 [tokens, ", shape_.hidden,
                                                   "], got ", hidden.Describe()));
  }
  auto start = std::chrono::steady_clock::now();
  CapacityOutcome capacity;
  SY_ASSIGN_OR_RETURN(RouterOutput routing, Route(ctx, hidden, token_ids, capacity));
  last_router_micros_ = MicrosSince(start);
  if (options_.trace && hidden.dim(0) > 0) {
    SY_RETURN_IF_ERROR(options_.trace->Append(options_.layer, routing));
  }

  start = std::chrono::steady_clock::now();
  SY_ASSIGN_OR_RETURN(Tensor out, ForwardExperts(ctx, hidden, routing));
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
