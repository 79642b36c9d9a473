#include "core/moe/online_rebalancer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/log.h"
#include "core/base/status.h"

namespace sy {
namespace {

double Mean(const std::vector<LayerRebalance>& layers, double LayerRebalance::*field) {
  if (layers.empty()) return 1.0;
  double sum = 0;
  for (const LayerRebalance& l : layers) sum += l.*field;
  return sum / static_cast<double>(layers.size());
}

}  // namespace

void CountRoutedTokens(const Tensor& expert_ids, int32_t num_experts, int64_t* counts) {
  const int32_t* ids = expert_ids.data<int32_t>();
  for (int64_t i = 0; i < expert_ids.numel(); ++i) {
    if (ids[i] >= 0 && ids[i] < num_experts) ++counts[ids[i]];
  }
}

int64_t PlacementFingerprint(const Placement& placement) {
  uint32_t hash = 2166136261u;  // FNV-1a over the slots' expert ids
  for (int32_t expert : placement.slots) {
    hash = (hash ^ static_cast<uint32_t>(expert)) * 16777619u;
  }
  // 31 bits: world_size fingerprints add up in an int64 without overflowing.
  return static_cast<int64_t>(hash & 0x7fffffffu);
}

double RebalanceReport::MeanBefore() const { return Mean(layers, &LayerRebalance::before); }
double RebalanceReport::MeanAfter() const { return Mean(layers, &LayerRebalance::after); }

std::string RebalanceReport::Describe() const {
  std::string out = absl::StrCat("step ", step, ": ");
  absl::StrAppend(&out, layers_moved > 0 ? absl::StrCat("moved ", layers_moved, " of ",
                                                        layers.size(), " MoE layers")
                                         : std::string("kept the placement"));
  absl::StrAppendFormat(&out, "; max/mean tokens per rank over the last %d steps %.3f -> %.3f",
                        window_steps, MeanBefore(), MeanAfter());
  if (layers.empty()) return out;
  const auto worst = std::max_element(
      layers.begin(), layers.end(),
      [](const LayerRebalance& a, const LayerRebalance& b) { return a.before < b.before; });
  absl::StrAppendFormat(&out, " (mean over layers), worst layer %d %.3f -> %.3f",
                        static_cast<int>(worst - layers.begin()), worst->before, worst->after);
  if (layers_moved > 0)
    absl::StrAppend(&out, "; re-filled ", slots_refilled, " of ", slots, " slots");
  return out;
}

OnlineRebalancer::OnlineRebalancer(PlacementScheduler scheduler, RebalanceOptions options)
    : scheduler_(std::move(scheduler)),
      options_(options),
      window_(static_cast<size_t>(options.window_steps)) {}

absl::Status OnlineRebalancer::RecordLayer(ExecContext& ctx, const ExpertParallelism& ep,
                                           int32_t moe_layer, const Tensor& expert_ids) {
  const PlacementShape& shape = ep.placement->shape();
  const int64_t width = static_cast<int64_t>(shape.num_layers) * shape.num_experts;
  if (static_cast<int64_t>(step_counts_.size()) != width) step_counts_.assign(width, 0);
  CountRoutedTokens(expert_ids, shape.num_experts,
                    step_counts_.data() + static_cast<int64_t>(moe_layer) * shape.num_experts);
  if (moe_layer != shape.num_layers - 1) return absl::OkStatus();

  // The step is over on every rank: one all-reduce of the counts and the fingerprints.
  SY_ASSIGN_OR_RETURN(Tensor summed, Tensor::Empty({width + 1}, DType::kI64));
  int64_t* sum = summed.data<int64_t>();
  std::copy(step_counts_.begin(), step_counts_.end(), sum);
  std::fill(step_counts_.begin(), step_counts_.end(), 0);
  const int64_t fingerprint = PlacementFingerprint(ep.placement->placement());
  sum[width] = fingerprint;
  SY_RETURN_IF_ERROR(AllReduceHostSum(ctx, *ep.comm, summed));
  if (sum[width] != fingerprint * ep.world_size()) {
    return absl::InternalError(absl::StrCat(
        "step ", steps_ + 1, ": rank ", ep.rank(),
        "'s expert placement differs from another rank's; every rank must switch placements "
        "together (is the placement scheduler deterministic?)"));
  }
  const std::vector<double> load(sum, sum + width);
  absl::StatusOr<std::shared_ptr<const ExpertPlacement>> next = ObserveStep(*ep.placement, load);
  const bool speaks = ep.rank() == 0;  // every rank decides the same: one log is enough
  if (!next.ok()) {
    if (speaks) {
      Log(LogLevel::kWarning, "eplb",
          absl::StrCat(next.status().message(), "; the placement in force stays"));
    }
    return absl::OkStatus();
  }
  if (speaks && last_report_ && last_report_->step == steps_) {
    Log(*next ? LogLevel::kInfo : LogLevel::kDebug, "eplb", last_report_->Describe());
  }
  if (*next) ep.placement = *std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const ExpertPlacement>> OnlineRebalancer::ObserveStep(
    const ExpertPlacement& current, const std::vector<double>& load) {
  ++steps_;
  window_.Push(load.data(), load.size());
  SY_ASSIGN_OR_RETURN(std::optional<Placement> proposed,
                      scheduler_.Observe(current.placement(), load, steps_));
  std::shared_ptr<const ExpertPlacement> next;
  if (proposed) {
    SY_ASSIGN_OR_RETURN(ExpertPlacement indexed, ExpertPlacement::Create(*std::move(proposed)));
    next = std::make_shared<const ExpertPlacement>(std::move(indexed));
    ++rebalances_;
  }
  if (next || steps_ % static_cast<uint64_t>(options_.interval_steps) == 0) {
    last_report_ = Measure(current, next ? *next : current);
    if (next) last_rebalance_ = last_report_;
  }
  return next;
}

RebalanceReport OnlineRebalancer::Measure(const ExpertPlacement& before,
                                          const ExpertPlacement& after) const {
  const PlacementShape& shape = before.shape();
  RebalanceReport report;
  report.step = steps_;
  report.window_steps = std::min<int64_t>(static_cast<int64_t>(steps_), options_.window_steps);
  report.slots = static_cast<int64_t>(shape.num_layers) * shape.slots_per_layer();
  for (int32_t layer = 0; layer < shape.num_layers; ++layer) {
    const auto first = window_.sum().begin() + static_cast<int64_t>(layer) * shape.num_experts;
    const std::vector<double> load(first, first + shape.num_experts);
    const RankImbalance old = before.Imbalance(layer, load);
    report.layers.push_back({old.logical, old.balanced, after.Imbalance(layer, load).balanced});
    const int32_t changed = eplb::SlotsToRefill(before.LayerSlots(layer), after.LayerSlots(layer));
    report.layers_moved += changed > 0 ? 1 : 0;
    report.slots_refilled += changed;
  }
  return report;
}

}  // namespace sy
