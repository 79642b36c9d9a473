// Placement schedulers: DeepSeek's expert-parallel load balancer (EPLB, deepseek-ai/EPLB
// eplb.py), header-only and part of the SDK so in-tree and vendor placement schedulers share it.
//
// One MoE layer at a time: given the tokens each logical expert received (over a window of
// steps), choose which logical expert each physical slot holds. A layer has num_ranks *
// slots_per_rank slots, slot s on rank s / slots_per_rank (plugin_abi.h's sy_placement_state);
// ranks are grouped into num_nodes hosts of equal size.
//
//   ReplicateExperts  each redundant slot copies the expert with the highest load / replicas;
//   BalancedPacking   heaviest item first into the lightest pack that still has room, every
//                     pack taking the same number of items;
//   hierarchical      pack expert groups onto nodes (balanced), replicate within each node,
//                     pack the node's replicas onto its ranks: an expert's tokens stay within
//                     one host when groups are routed to hosts (DeepSeek-V3's node-limited
//                     routing); eplb.py uses it for prefill;
//   global            one group, one node: replicate over all slots, pack onto all ranks;
//                     eplb.py uses it for decode.
//
// Ties break towards the lower index (eplb.py leaves them to torch's sort), so a placement is
// a pure function of its inputs. Invalid shapes throw std::invalid_argument, which the C++
// SDK (plugin.hpp) reports as SY_INVALID_ARGUMENT.
#ifndef SWITCHYARD_EXPERT_PLACEMENT_HPP_
#define SWITCHYARD_EXPERT_PLACEMENT_HPP_

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace sy::eplb {

enum class Policy { kHierarchical, kGlobal };

struct Packing {
  std::vector<int32_t> pack;           // [items] the pack each item went to
  std::vector<int32_t> index_in_pack;  // [items] its position in that pack, 0 .. per_pack - 1
};

// Packs weight.size() items into num_packs packs of weight.size() / num_packs items each,
// heaviest first, each into the lightest pack that has room (ties: the lower pack). With one
// item per pack, item i goes to pack i, as in eplb.py.
inline Packing BalancedPacking(const std::vector<double>& weight, int32_t num_packs) {
  const int32_t items = static_cast<int32_t>(weight.size());
  if (num_packs < 1 || items % num_packs != 0) {
    throw std::invalid_argument("balanced packing: " + std::to_string(items) +
                                " items do not split evenly into " + std::to_string(num_packs) +
                                " packs");
  }
  const int32_t per_pack = items / num_packs;
  Packing out{std::vector<int32_t>(items), std::vector<int32_t>(items, 0)};
  if (per_pack == 1) {
    std::iota(out.pack.begin(), out.pack.end(), 0);
    return out;
  }
  std::vector<int32_t> order(items);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return weight[a] > weight[b]; });
  std::vector<double> pack_weight(num_packs, 0.0);
  std::vector<int32_t> pack_items(num_packs, 0);
  for (int32_t item : order) {
    int32_t best = -1;
    for (int32_t p = 0; p < num_packs; ++p) {
      if (pack_items[p] < per_pack && (best < 0 || pack_weight[p] < pack_weight[best])) best = p;
    }
    out.pack[item] = best;
    out.index_in_pack[item] = pack_items[best]++;
    pack_weight[best] += weight[item];
  }
  return out;
}

struct Replication {
  std::vector<int32_t> physical_to_logical;  // [num_physical]; the first weight.size() are
                                             // the experts themselves, in order
  std::vector<int32_t> replicas;             // [logical] replicas of each expert, >= 1
};

// Gives every logical expert one physical slot, then each further slot to the expert with the
// highest load / replicas (ties: the lower expert), minimising the largest per-replica load.
inline Replication ReplicateExperts(const std::vector<double>& weight, int32_t num_physical) {
  const int32_t logical = static_cast<int32_t>(weight.size());
  if (num_physical < logical) {
    throw std::invalid_argument("replicate experts: " + std::to_string(num_physical) +
                                " slots cannot hold " + std::to_string(logical) + " experts");
  }
  Replication out{std::vector<int32_t>(num_physical), std::vector<int32_t>(logical, 1)};
  std::iota(out.physical_to_logical.begin(), out.physical_to_logical.begin() + logical, 0);
  for (int32_t slot = logical; slot < num_physical; ++slot) {
    int32_t best = 0;
    for (int32_t e = 1; e < logical; ++e) {
      if (weight[e] / out.replicas[e] > weight[best] / out.replicas[best]) best = e;
    }
    out.physical_to_logical[slot] = best;
    ++out.replicas[best];
  }
  return out;
}

// Whether the hierarchical policy applies: groups split the experts and the nodes evenly.
inline bool HierarchicalFits(int32_t num_experts, int32_t num_groups, int32_t num_nodes) {
  return num_groups >= 1 && num_nodes >= 1 && num_experts % num_groups == 0 &&
         num_groups % num_nodes == 0;
}

// eplb.py's rebalance_experts_hierarchical for one layer: `load` [num_experts] tokens per
// expert; returns [num_slots] the logical expert of each slot, slot s on rank
// s / (num_slots / num_ranks). num_ranks must split into num_nodes hosts and num_slots into
// num_ranks; HierarchicalFits(...) must hold.
inline std::vector<int32_t> RebalanceHierarchical(const std::vector<double>& load,
                                                  int32_t num_slots, int32_t num_groups,
                                                  int32_t num_nodes, int32_t num_ranks) {
  const int32_t experts = static_cast<int32_t>(load.size());
  if (!HierarchicalFits(experts, num_groups, num_nodes) || num_ranks % num_nodes != 0 ||
      num_slots % num_ranks != 0 || num_slots < experts) {
    throw std::invalid_argument("hierarchical placement: " + std::to_string(experts) +
                                " experts in " + std::to_string(num_groups) + " groups over " +
                                std::to_string(num_nodes) + " nodes, " + std::to_string(num_ranks) +
                                " ranks and " + std::to_string(num_slots) +
                                " slots do not divide evenly (or fewer slots than experts)");
  }
  const int32_t group_size = experts / num_groups;
  const int32_t groups_per_node = num_groups / num_nodes;
  const int32_t experts_per_node = experts / num_nodes;
  const int32_t slots_per_node = num_slots / num_nodes;
  const int32_t ranks_per_node = num_ranks / num_nodes;
  const int32_t slots_per_rank = num_slots / num_ranks;

  // 1. Groups onto nodes. node_experts[n] lists node n's logical experts, groups in the order
  //    packing placed them, experts within a group in id order.
  std::vector<double> group_load(num_groups, 0.0);
  for (int32_t e = 0; e < experts; ++e) group_load[e / group_size] += load[e];
  const Packing nodes = BalancedPacking(group_load, num_nodes);
  std::vector<int32_t> node_experts(experts);
  for (int32_t g = 0; g < num_groups; ++g) {
    const int32_t first = (nodes.pack[g] * groups_per_node + nodes.index_in_pack[g]) * group_size;
    for (int32_t i = 0; i < group_size; ++i) node_experts[first + i] = g * group_size + i;
  }

  std::vector<int32_t> slots(num_slots);
  for (int32_t n = 0; n < num_nodes; ++n) {
    const auto begin = node_experts.begin() + n * experts_per_node;
    const std::vector<int32_t> local(begin, begin + experts_per_node);
    std::vector<double> local_load(experts_per_node);
    for (int32_t i = 0; i < experts_per_node; ++i) local_load[i] = load[local[i]];
    // 2. Replicas within the node.
    const Replication replication = ReplicateExperts(local_load, slots_per_node);
    // 3. The node's replicas onto its ranks, each weighing its expert's load / replicas.
    std::vector<double> replica_load(slots_per_node);
    for (int32_t p = 0; p < slots_per_node; ++p) {
      const int32_t e = replication.physical_to_logical[p];
      replica_load[p] = local_load[e] / replication.replicas[e];
    }
    const Packing ranks = BalancedPacking(replica_load, ranks_per_node);
    for (int32_t p = 0; p < slots_per_node; ++p) {
      const int32_t slot =
          n * slots_per_node + ranks.pack[p] * slots_per_rank + ranks.index_in_pack[p];
      slots[slot] = local[replication.physical_to_logical[p]];
    }
  }
  return slots;
}

// eplb.py's global policy: hierarchical with one group on one node.
inline std::vector<int32_t> RebalanceGlobal(const std::vector<double>& load, int32_t num_slots,
                                            int32_t num_ranks) {
  return RebalanceHierarchical(load, num_slots, 1, 1, num_ranks);
}

// The policy eplb.py's rebalance_experts picks: hierarchical when the groups fit the nodes,
// else global. One group on one node is the global policy, and is named so.
inline Policy AutoPolicy(int32_t num_experts, int32_t num_groups, int32_t num_nodes) {
  const bool trivial = num_groups == 1 && num_nodes == 1;
  return HierarchicalFits(num_experts, num_groups, num_nodes) && !trivial ? Policy::kHierarchical
                                                                          : Policy::kGlobal;
}

inline std::vector<int32_t> Rebalance(Policy policy, const std::vector<double>& load,
                                      int32_t num_slots, int32_t num_groups, int32_t num_nodes,
                                      int32_t num_ranks) {
  return policy == Policy::kHierarchical
             ? RebalanceHierarchical(load, num_slots, num_groups, num_nodes, num_ranks)
             : RebalanceGlobal(load, num_slots, num_ranks);
}

// The tokens each rank computes when every expert's load splits evenly over its replicas in
// `slots` (the host spreads tokens over replicas). `slots` must place every expert.
inline std::vector<double> RankLoads(const std::vector<double>& load,
                                     const std::vector<int32_t>& slots, int32_t num_ranks) {
  std::vector<int32_t> replicas(load.size(), 0);
  for (int32_t e : slots) ++replicas[e];
  const size_t slots_per_rank = slots.size() / num_ranks;
  std::vector<double> rank_load(num_ranks, 0.0);
  for (size_t s = 0; s < slots.size(); ++s) {
    rank_load[s / slots_per_rank] += load[slots[s]] / replicas[slots[s]];
  }
  return rank_load;
}

// Max over mean of RankLoads; 1 when balanced, and 1 for an idle layer.
inline double RankImbalance(const std::vector<double>& load, const std::vector<int32_t>& slots,
                            int32_t num_ranks) {
  const std::vector<double> rank_load = RankLoads(load, slots, num_ranks);
  const double total = std::accumulate(rank_load.begin(), rank_load.end(), 0.0);
  if (total <= 0) return 1.0;
  return *std::max_element(rank_load.begin(), rank_load.end()) / (total / num_ranks);
}

// The slots whose expert differs between two placements of one layer: what a switch from
// `now` to `next` re-fills.
inline int32_t SlotsToRefill(const std::vector<int32_t>& now, const std::vector<int32_t>& next) {
  int32_t changed = 0;
  for (size_t s = 0; s < now.size() && s < next.size(); ++s) changed += now[s] != next[s];
  return changed;
}

// `next` rearranged so that a switch from `now` re-fills as few slots as it can, with every
// rank's load unchanged up to which rank carries it. The packs the policies build are
// interchangeable between the ranks of a node, and a rank's slots between themselves, so:
// first each of `next`'s rank packs goes to a rank of its own node (the pair sharing the most
// experts first; ties: the lower pack, then the lower rank), then within each rank an expert it
// already holds stays in its slot and the others fill the freed slots in `next`'s order. eplb.py
// does neither, so its placements move weights that could have stayed. A pure function of its
// inputs, like the policies: every rank computes the same answer.
inline std::vector<int32_t> KeepInPlace(const std::vector<int32_t>& now,
                                        const std::vector<int32_t>& next, int32_t num_ranks,
                                        int32_t num_nodes) {
  if (now.size() != next.size() || num_ranks <= 0 || num_nodes <= 0 ||
      next.size() % num_ranks != 0 || num_ranks % num_nodes != 0) {
    throw std::invalid_argument(
        "KeepInPlace: placements of different shapes, or ranks that do "
        "not split into nodes");
  }
  const size_t per_rank = next.size() / num_ranks;
  const int32_t per_node = num_ranks / num_nodes;
  auto rank_slots = [&](const std::vector<int32_t>& slots, int32_t rank) {
    return std::vector<int32_t>(slots.begin() + rank * per_rank,
                                slots.begin() + (rank + 1) * per_rank);
  };
  // Experts two slot lists share, counting replicas: the slots that need no re-fill.
  auto shared = [](std::vector<int32_t> a, std::vector<int32_t> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::vector<int32_t> both;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
    return static_cast<int32_t>(both.size());
  };
  std::vector<int32_t> out(next.size());
  for (int32_t node = 0; node < num_nodes; ++node) {
    const int32_t first = node * per_node;
    // overlap[p][r]: experts pack p of `next` shares with rank r of `now`, ranks of this node.
    std::vector<std::vector<int32_t>> overlap(per_node, std::vector<int32_t>(per_node));
    for (int32_t p = 0; p < per_node; ++p) {
      for (int32_t r = 0; r < per_node; ++r) {
        overlap[p][r] = shared(rank_slots(next, first + p), rank_slots(now, first + r));
      }
    }
    std::vector<bool> pack_done(per_node, false), rank_done(per_node, false);
    for (int32_t round = 0; round < per_node; ++round) {
      int32_t best_p = -1, best_r = -1;
      for (int32_t p = 0; p < per_node; ++p) {
        if (pack_done[p]) continue;
        for (int32_t r = 0; r < per_node; ++r) {
          if (rank_done[r]) continue;
          if (best_p < 0 || overlap[p][r] > overlap[best_p][best_r]) {
            best_p = p;
            best_r = r;
          }
        }
      }
      pack_done[best_p] = rank_done[best_r] = true;
      // Rank best_r keeps in place what it already holds of pack best_p.
      std::vector<int32_t> incoming = rank_slots(next, first + best_p);
      const size_t base = (first + best_r) * per_rank;
      std::vector<bool> kept(per_rank, false);
      for (size_t j = 0; j < per_rank; ++j) {
        const auto it = std::find(incoming.begin(), incoming.end(), now[base + j]);
        if (it == incoming.end()) continue;
        out[base + j] = *it;
        kept[j] = true;
        incoming.erase(it);
      }
      auto fill = incoming.begin();
      for (size_t j = 0; j < per_rank; ++j) {
        if (!kept[j]) out[base + j] = *fill++;
      }
    }
  }
  return out;
}

// The sum of the last `capacity` rows pushed, each row `width` values: a sliding window of
// per-step loads ([layers x experts] per step). The placement scheduler and the host that
// reports its imbalance keep one each, pushed the same rows, so both see the same window.
class LoadWindow {
 public:
  explicit LoadWindow(size_t capacity) : capacity_(capacity) {}

  void Push(const double* row, size_t width) {
    if (sum_.size() != width) {  // first step, or the model's shape changed: start over
      sum_.assign(width, 0.0);
      rows_.assign(capacity_ * width, 0.0);
      next_ = 0;
    }
    double* slot = rows_.data() + next_ * width;
    for (size_t i = 0; i < width; ++i) {
      sum_[i] += row[i] - slot[i];
      slot[i] = row[i];
    }
    next_ = (next_ + 1) % capacity_;
  }
  const std::vector<double>& sum() const { return sum_; }

 private:
  size_t capacity_;
  size_t next_ = 0;
  std::vector<double> rows_;  // [capacity, width] ring
  std::vector<double> sum_;   // [width]
};

}  // namespace sy::eplb

#endif  // SWITCHYARD_EXPERT_PLACEMENT_HPP_
