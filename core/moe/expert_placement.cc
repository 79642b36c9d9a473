#include "core/moe/expert_placement.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "switchyard/expert_placement.hpp"

namespace sy {

int32_t HomeRank(int32_t expert, int32_t num_experts, int32_t num_ranks) {
  const int32_t base = num_experts / num_ranks, rem = num_experts % num_ranks;
  const int32_t boundary = rem * (base + 1);  // the first `rem` ranks hold base + 1 each
  return expert < boundary ? expert / (base + 1) : rem + (expert - boundary) / base;
}

ExpertPlacement::ExpertPlacement(Placement placement) : placement_(std::move(placement)) {
  const PlacementShape& s = placement_.shape;
  const int32_t width = s.slots_per_layer();
  replica_begin_.assign(static_cast<size_t>(s.num_layers) * s.num_experts + 1, 0);
  for (int32_t l = 0; l < s.num_layers; ++l) {
    for (int32_t slot = 0; slot < width; ++slot) {
      ++replica_begin_[static_cast<size_t>(l) * s.num_experts + expert(l, slot) + 1];
    }
  }
  for (size_t i = 1; i < replica_begin_.size(); ++i) replica_begin_[i] += replica_begin_[i - 1];
  replica_slots_.resize(placement_.slots.size());
  std::vector<int32_t> next(replica_begin_.begin(), replica_begin_.end() - 1);
  for (int32_t l = 0; l < s.num_layers; ++l) {
    for (int32_t slot = 0; slot < width; ++slot) {
      replica_slots_[next[static_cast<size_t>(l) * s.num_experts + expert(l, slot)]++] = slot;
    }
  }
}

absl::StatusOr<ExpertPlacement> ExpertPlacement::Create(Placement placement) {
  SY_RETURN_IF_ERROR(ValidatePlacement(placement, "the expert placement"));
  return ExpertPlacement(std::move(placement));
}

absl::StatusOr<ExpertPlacement> ExpertPlacement::Initial(const PlacementShape& shape,
                                                         const std::vector<double>& load) {
  SY_RETURN_IF_ERROR(ValidateShape(shape));
  const int32_t experts = shape.num_experts, ranks = shape.num_ranks;
  const int32_t most_home = (experts + ranks - 1) / ranks;
  if (most_home > shape.slots_per_rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(experts, " experts sharded over ", ranks, " ranks put ", most_home,
                     " on a rank, which has ", shape.slots_per_rank, " slots"));
  }
  if (!load.empty() && load.size() != static_cast<size_t>(shape.num_layers) * experts) {
    return absl::InvalidArgumentError(absl::StrCat("initial load has ", load.size(),
                                                   " entries; expected ", shape.num_layers,
                                                   " layers x ", experts, " experts"));
  }
  const int32_t width = shape.slots_per_layer();
  Placement p{shape, std::vector<int32_t>(static_cast<size_t>(shape.num_layers) * width)};
  for (int32_t l = 0; l < shape.num_layers; ++l) {
    const std::vector<double> layer_load =
        load.empty()
            ? std::vector<double>(experts, 1.0)
            : std::vector<double>(load.begin() + l * experts, load.begin() + (l + 1) * experts);
    const std::vector<int32_t> extra =
        eplb::ReplicateExperts(layer_load, width).physical_to_logical;
    int32_t* row = p.slots.data() + static_cast<size_t>(l) * width;
    int32_t next_extra = experts, expert = 0;
    for (int32_t r = 0; r < ranks; ++r) {
      int32_t s = r * shape.slots_per_rank;
      for (; expert < experts && HomeRank(expert, experts, ranks) == r; ++expert) row[s++] = expert;
      for (; s < (r + 1) * shape.slots_per_rank; ++s) row[s] = extra[next_extra++];
    }
  }
  return ExpertPlacement(std::move(p));
}

std::span<const int32_t> ExpertPlacement::replicas(int32_t layer, int32_t expert) const {
  const size_t i = static_cast<size_t>(layer) * shape().num_experts + expert;
  return {replica_slots_.data() + replica_begin_[i],
          static_cast<size_t>(replica_begin_[i + 1] - replica_begin_[i])};
}

void ExpertPlacement::AssignReplicas(int32_t layer, std::span<const int32_t> expert_ids,
                                     int32_t token_rank, std::span<int32_t> slots) const {
  std::vector<int32_t> turn(shape().num_experts, 0);
  std::vector<int32_t> local;
  for (size_t i = 0; i < expert_ids.size(); ++i) {
    const int32_t e = expert_ids[i];
    if (e < 0) {
      slots[i] = -1;
      continue;
    }
    const std::span<const int32_t> all = replicas(layer, e);
    local.clear();
    for (int32_t slot : all) {
      if (rank_of_slot(slot) == token_rank) local.push_back(slot);
    }
    const int32_t t = turn[e]++;
    slots[i] = local.empty() ? all[(token_rank + t) % all.size()] : local[t % local.size()];
  }
}

RankImbalance ExpertPlacement::Imbalance(int32_t layer, const std::vector<double>& load) const {
  const int32_t ranks = shape().num_ranks;
  std::vector<double> logical(ranks, 0.0);
  for (int32_t e = 0; e < shape().num_experts; ++e) {
    logical[HomeRank(e, shape().num_experts, ranks)] += load[e];
  }
  double total = 0;
  for (double v : logical) total += v;
  RankImbalance out;
  if (total > 0) out.logical = *std::max_element(logical.begin(), logical.end()) / (total / ranks);
  out.balanced = eplb::RankImbalance(load, LayerSlots(layer), ranks);
  return out;
}

std::vector<int32_t> ExpertPlacement::LayerSlots(int32_t layer) const {
  const auto first =
      placement_.slots.begin() + static_cast<size_t>(layer) * shape().slots_per_layer();
  return {first, first + shape().slots_per_layer()};
}

}  // namespace sy
