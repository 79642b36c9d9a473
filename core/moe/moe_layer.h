// One MoE layer assembled from components: gate GEMM (+ bias) -> router -> (capacity limit) ->
// experts, with the expert weights converted by the quantizer when the layer is built.
//
// Each forward records the load it put on every expert (ExpertLoad) and, when a trace
// writer is attached, the routing decision itself.
#ifndef SWITCHYARD_CORE_MOE_MOE_LAYER_H_
#define SWITCHYARD_CORE_MOE_MOE_LAYER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/moe/capacity.h"
#include "core/moe/expert_load.h"
#include "core/moe/expert_parallel.h"
#include "core/moe/moe_weights.h"
#include "core/moe/routing_trace.h"
#include "core/plugin_host/experts.h"
#include "core/plugin_host/quantizer.h"
#include "core/plugin_host/router.h"

namespace sy {

// Anything that routes: a router plugin, or a function (a Lua router, for prototyping).
struct RoutingFunction {
  std::string name;
  int top_k = 0;
  std::function<absl::StatusOr<RouterOutput>(ExecContext&, const RouterInputs&)> route;

  static RoutingFunction FromRouter(Router router);
};

struct MoeLayerOptions {
  int layer = 0;
  std::optional<CapacityLimit> capacity;
  std::shared_ptr<TraceWriter> trace;  // records every forward's routing when set
  // Expert parallelism (expert_parallel.h): this rank keeps only the expert slots the placement
  // gives it, and every forward is collective over the ranks. `moe_index` is the layer's row
  // in the placement (its index among the model's MoE layers).
  std::shared_ptr<const ExpertParallelism> expert_parallel;
  int moe_index = 0;
};

class MoeLayer {
 public:
  // Quantizes the expert weights (when a quantizer is given) and checks that `experts`
  // supports the format they end up in.
  static absl::StatusOr<std::unique_ptr<MoeLayer>> Create(
      RoutingFunction router, std::optional<Quantizer> quantizer, Experts experts,
      const MoeWeights& weights, MoeLayerOptions options, ExecContext& ctx);

  // hidden: f32 [tokens, H]; token_ids: i32 [tokens] for routers that need them. Under expert
  // parallelism every rank calls it in step, with zero tokens when it has none.
  absl::StatusOr<Tensor> Forward(ExecContext& ctx, const Tensor& hidden,
                                 const std::optional<Tensor>& token_ids = std::nullopt);

  // Predicts this layer's routing from `hidden` (an earlier layer's MoE input: the residual
  // stream moves little in one layer) as the top-k of the gate's logits (+ biases), and hands
  // it to the experts as a prefetch hint (Experts::Prefetch). The router itself does not run:
  // it may keep state (router.replay does). A no-op for experts that take no hints, and under
  // expert parallelism.
  absl::Status Prefetch(ExecContext& ctx, const Tensor& hidden);

  const ExpertLoad& last_load() const { return last_load_; }
  // The last forward's load as a telemetry message (schemas/switchyard/telemetry.capnp).
  void WriteLastLoad(schema::LayerLoad::Builder out) const;
  // Every forward's load added up since creation or the last ResetTotalLoad(), with the
  // router's and experts' time summed.
  const ExpertLoad& total_load() const { return total_load_; }
  void WriteTotalLoad(schema::LayerLoad::Builder out) const;
  void ResetTotalLoad();
  const RouterOutput& last_routing() const { return last_routing_; }

  const MoeShape& shape() const { return shape_; }
  // The experts this layer computes: all of them, or under expert parallelism this rank's slots.
  const ExpertWeights& expert_weights() const { return expert_weights_; }
  const RoutingFunction& router() const { return router_; }
  const std::optional<Quantizer>& quantizer() const { return quantizer_; }
  const Experts& experts() const { return experts_; }
  void set_trace(std::shared_ptr<TraceWriter> trace) { options_.trace = std::move(trace); }

 private:
  MoeLayer(RoutingFunction router, std::optional<Quantizer> quantizer, Experts experts,
           MoeLayerOptions options)
      : router_(std::move(router)),
        quantizer_(std::move(quantizer)),
        experts_(std::move(experts)),
        options_(std::move(options)) {}

  absl::StatusOr<RouterOutput> Route(ExecContext& ctx, const Tensor& hidden,
                                     const std::optional<Tensor>& token_ids,
                                     CapacityOutcome& capacity);
  absl::StatusOr<Tensor> ForwardExperts(ExecContext& ctx, const Tensor& hidden,
                                        const RouterOutput& routing);
  // `experts` of `weights` (and the shared expert when with_shared) as the quantizer stores them.
  absl::StatusOr<ExpertWeights> ConvertExperts(ExecContext& ctx, const MoeWeights& weights,
                                               const std::vector<int>& experts, bool with_shared);
  // Under expert parallelism: converts this rank's slots under the placement in force.
  absl::Status ShardExperts(ExecContext& ctx);

  RoutingFunction router_;
  std::optional<Quantizer> quantizer_;
  Experts experts_;
  MoeLayerOptions options_;
  MoeShape shape_;
  Tensor router_weight_;
  std::optional<Tensor> correction_bias_;
  std::optional<Tensor> router_bias_;
  ExpertWeights expert_weights_;
  // Under expert parallelism: every expert's f32 weights, to re-shard when the placement
  // changes; the placement expert_weights_ was sharded for (held, so a later placement can never
  // reuse its address and pass for it); and the local slots plus the shared expert, which runs
  // on this rank's own tokens rather than on dispatched ones.
  std::shared_ptr<const MoeWeights> source_;
  std::shared_ptr<const ExpertPlacement> sharded_for_;
  std::optional<ExpertWeights> shared_weights_;
  bool quantize_activations_ = false;
  ExpertLoad last_load_;
  RouterOutput last_routing_;
  double last_router_micros_ = 0;
  double last_experts_micros_ = 0;
  ExpertLoad total_load_;
  double total_router_micros_ = 0;
  double total_experts_micros_ = 0;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_MOE_LAYER_H_
