// Expert parallelism for MoE layers (DESIGN.md, "Expert parallelism"). Attention is
// data-parallel: every rank keeps its own tokens. In each MoE layer a token goes once to every
// rank holding one of its experts (dispatch, not once per expert: two experts on one rank cost
// one row), that rank runs its experts on everything it received and returns each row's
// weighted sum (combine), and the token's rank adds the sums up. A comm component moves the
// rows; an ExpertPlacement says which rank holds which expert replicas.
//
// A dispatched row carries everything the receiving rank needs, so one all-to-all moves it:
// the token's hidden state (H floats), then for each of its k routing slots the local slot
// index on the receiving rank (an int32 in a float's bits; -1 when the slot goes elsewhere)
// and the routing weight.
#ifndef SWITCHYARD_CORE_MOE_EXPERT_PARALLEL_H_
#define SWITCHYARD_CORE_MOE_EXPERT_PARALLEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/moe/expert_placement.h"
#include "core/plugin_host/comm.h"
#include "core/plugin_host/router.h"

namespace sy {

class OnlineRebalancer;  // online_rebalancer.h

// What every MoE layer of a model shares under expert parallelism: the connected comm
// component, the placement in force and, when rebalancing online, the rebalancer.
struct ExpertParallelism {
  std::shared_ptr<Comm> comm;
  // Mutable: the rebalancer switches it between steps, on the thread that runs the model; each
  // MoE layer re-shards when it sees a new one (MoeLayer::ShardExperts).
  mutable std::shared_ptr<const ExpertPlacement> placement;
  // Sees every MoE layer's routing and may switch `placement` (online_rebalancer.h); unset:
  // the placement never changes.
  std::shared_ptr<OnlineRebalancer> rebalancer;

  int rank() const { return comm->rank(); }
  int world_size() const { return comm->world_size(); }
};

// The rows this rank sends in one layer's dispatch.
struct DispatchPlan {
  std::vector<int64_t> send_counts;  // rows per destination rank
  std::vector<int32_t> row_token;    // the token each send row came from
  Tensor rows;                       // f32 [rows, H + 2k], grouped by destination rank
};

// Builds the dispatch of `hidden` (f32 [tokens, H]) routed by `routing` ([tokens, k]) with
// `slots` ([tokens * k], the physical slot of each routed pair, -1 where dropped).
absl::StatusOr<DispatchPlan> PlanDispatch(const Tensor& hidden, const RouterOutput& routing,
                                          const std::vector<int32_t>& slots,
                                          const ExpertPlacement& placement, int world_size);

// The received rows split back into what an experts component takes: hidden f32 [rows, H] and
// routing ([rows, k] local slot ids and weights).
struct ReceivedTokens {
  Tensor hidden;
  RouterOutput routing;
};
absl::StatusOr<ReceivedTokens> UnpackDispatch(const Tensor& rows, int64_t hidden_size, int k);

// Runs the local experts on received tokens: (hidden, routing over local slots) -> f32 [rows, H].
using LocalExperts =
    std::function<absl::StatusOr<Tensor>(const Tensor& hidden, const RouterOutput& routing)>;

// One MoE layer's dispatch -> local experts -> combine for this rank's tokens. Collective: every
// rank calls it for every MoE layer in the same order, with zero tokens when it has none.
// Returns f32 [tokens, H]: each token's routed experts, weighted and summed. With a rebalancer,
// the last MoE layer of a step may switch ep.placement for the next step.
absl::StatusOr<Tensor> RunExpertParallel(ExecContext& ctx, const ExpertParallelism& ep,
                                         int32_t moe_layer, const Tensor& hidden,
                                         const RouterOutput& routing,
                                         const LocalExperts& local_experts);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_EXPERT_PARALLEL_H_
