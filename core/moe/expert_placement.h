// Expert parallelism's placement at run time: which logical expert each physical slot holds in
// every MoE layer, the replicas of each expert, the rank of each slot, the replica each routed
// token goes to, and how evenly a load falls on the ranks.
//
// The plain data (sy::Placement, checked by ValidatePlacement) is what placement schedulers
// read and write (core/plugin_host/placement.h); this class indexes it for the EP runtime.
#ifndef SWITCHYARD_CORE_MOE_EXPERT_PLACEMENT_H_
#define SWITCHYARD_CORE_MOE_EXPERT_PLACEMENT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/plugin_host/placement.h"

namespace sy {

// Max over mean of the tokens per rank, for one layer's load.
struct RankImbalance {
  double logical = 1;   // experts sharded contiguously over the ranks, no replicas
  double balanced = 1;  // this placement, each expert's tokens split evenly over its replicas
};

class ExpertPlacement {
 public:
  // Validates `placement` and indexes it.
  static absl::StatusOr<ExpertPlacement> Create(Placement placement);

  // Before any load is known: experts sharded contiguously (rank r holds a consecutive range,
  // the first num_experts % num_ranks ranks one more), then the redundant slots left on each
  // rank dealt, in rank order, to the experts eplb's ReplicateExperts picks for `load`
  // ([num_layers, num_experts]; empty: a uniform load, i.e. round-robin over the experts).
  static absl::StatusOr<ExpertPlacement> Initial(const PlacementShape& shape,
                                                 const std::vector<double>& load = {});

  const Placement& placement() const { return placement_; }
  const PlacementShape& shape() const { return placement_.shape; }
  int32_t expert(int32_t layer, int32_t slot) const { return placement_.expert(layer, slot); }
  int32_t rank_of_slot(int32_t slot) const { return slot / shape().slots_per_rank; }
  // The expert of every slot of `layer`, the form switchyard/expert_placement.hpp takes.
  std::vector<int32_t> LayerSlots(int32_t layer) const;
  // The slots holding `expert` in `layer`, ascending.
  std::span<const int32_t> replicas(int32_t layer, int32_t expert) const;

  // Chooses a slot for each routed (token, expert) pair of `layer`: `expert_ids` [tokens * k]
  // (-1: dropped, gets -1) from tokens that live on `token_rank`; writes `slots` likewise.
  // A replica on the token's own rank wins: that pair then costs no all-to-all traffic, and
  // since attention is data-parallel every rank brings a similar share of tokens, so each
  // rank's replica still takes about its share. Otherwise the expert's replicas take turns,
  // starting at one that depends on token_rank, so the ranks' remote tokens spread evenly
  // instead of all landing on the first replica.
  void AssignReplicas(int32_t layer, std::span<const int32_t> expert_ids, int32_t token_rank,
                      std::span<int32_t> slots) const;

  // `load` [num_experts]: tokens per expert of `layer`.
  RankImbalance Imbalance(int32_t layer, const std::vector<double>& load) const;

 private:
  explicit ExpertPlacement(Placement placement);

  Placement placement_;
  // Per layer and expert, its slots: replica_slots_[replica_begin_[l * E + e] ...
  // replica_begin_[l * E + e + 1]).
  std::vector<int32_t> replica_begin_;
  std::vector<int32_t> replica_slots_;
};

// The rank holding `expert` when num_experts are sharded contiguously over num_ranks.
int32_t HomeRank(int32_t expert, int32_t num_experts, int32_t num_ranks);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_EXPERT_PLACEMENT_H_
