#include "core/planning/plan_json.h"

namespace sy::planning {
namespace {

using Json = nlohmann::ordered_json;

// JSON keys of the WeightPart values, in enum order.
constexpr const char* kPartKeys[kWeightPartCount] = {
    "embeddings", "attention", "norms", "dense_mlp", "routers", "shared_experts", "routed_experts"};

Json ModelJson(const MemoryPlan& p) {
  const ModelShape& m = p.model;
  Json parts = Json::object();
  for (int i = 0; i < kWeightPartCount; ++i) {
    const auto part = static_cast<WeightPart>(i);
    parts[kPartKeys[i]] = {{"parameters", p.parameters[part]}, {"bytes", p.bytes_by_part[i]}};
  }
  return {{"name", m.name},
          {"source", m.source},
          {"architecture", m.architecture},
          {"layers", m.num_layers},
          {"moe_layers", m.MoeLayerCount()},
          {"experts", m.num_experts},
          {"experts_per_token", m.experts_per_token},
          {"mtp_layers_not_counted", m.mtp_layers},
          {"parameters", p.parameters.total},
          {"active_parameters", p.parameters.active},
          {"weight_bytes", p.model_bytes},
          {"bytes_per_expert", p.bytes_per_expert},
          {"parts", parts}};
}

Json TargetJson(const PlanTarget& t) {
  return {{"gpu", t.gpu.name},
          {"gpu_memory_bytes", t.gpu.memory_bytes},
          {"gpus", t.gpus},
          {"ep", t.ep},
          {"precision", WeightPrecisionName(t.precision)},
          {"quantize", QuantScopeName(t.scope)},
          {"kv_dtype", KvCacheDtypeName(t.kv_dtype)},
          {"context", t.context},
          {"concurrency", t.concurrency},
          {"max_batch_tokens", t.max_batch_tokens},
          {"reserve_bytes", t.reserve_bytes},
          {"redundant", t.redundant}};
}

Json PerGpuJson(const MemoryPlan& p) {
  const ActivationEstimate& a = p.activations;
  return {{"weights",
           {{"attention_dense", p.weights.replicated},
            {"embeddings_lm_head", p.weights.embeddings},
            {"routed_experts", p.weights.routed_experts},
            {"total", p.weights.Total()}}},
          {"expert_slots", p.placement.MaxSlotsPerRank()},
          {"sequences", p.sequences_per_gpu},
          {"kv_bytes_per_sequence", p.kv_bytes_per_sequence},
          {"kv_cache", p.kv_cache},
          {"step_tokens", p.step_tokens},
          {"activations",
           {{"residual", a.residual},
            {"attention", a.attention},
            {"feed_forward", a.feed_forward},
            {"logits", a.logits},
            {"total", a.total}}},
          {"reserve", p.reserve},
          {"total", p.total},
          {"gpu_memory", p.target.gpu.memory_bytes},
          {"headroom", p.headroom},
          {"fits", p.Fits()}};
}

Json PlacementJson(const ExpertPlacement& placement) {
  Json ranks = Json::array();
  for (size_t r = 0; r < placement.ranks.size(); ++r) {
    const RankExperts& rank = placement.ranks[r];
    Json home = Json::array();
    for (int64_t e = 0; e < rank.home_count; ++e) home.push_back(rank.first_home + e);
    ranks.push_back({{"rank", r}, {"experts", home}, {"replicas", rank.replicas}});
  }
  return {{"experts", placement.experts}, {"redundant", placement.redundant}, {"ranks", ranks}};
}

}  // namespace

nlohmann::ordered_json PlanToJson(const MemoryPlan& plan,
                                  const std::vector<GpuCountForPrecision>& minimum_gpus) {
  Json minimum = Json::array();
  for (const GpuCountForPrecision& c : minimum_gpus) {
    minimum.push_back({{"precision", WeightPrecisionName(c.precision)},
                       {"weight_bytes", c.model_bytes},
                       {"gpus", c.gpus ? Json(*c.gpus) : Json(nullptr)},
                       {"per_gpu_total", c.per_gpu_total}});
  }
  return {{"model", ModelJson(plan)},
          {"target", TargetJson(plan.target)},
          {"per_gpu", PerGpuJson(plan)},
          {"minimum_gpus", minimum},
          {"placement", PlacementJson(plan.placement)}};
}

}  // namespace sy::planning
