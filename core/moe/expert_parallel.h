// Expert parallelism for MoE layers (DESIGN.md, "Expert parallelism"). Attention is
// data-parallel: every rank keeps its own tokens. In each MoE layer a token goes once to every
// rank holding one of its experts (dispatch, not once per expert: two experts on one rank cost
// one row), that rank runs its experts on everything it received and returns each row's
// weighted sum (combine), and the token's rank adds the sums up. A comm component moves the
// rows; an ExpertPlacement says which rank holds which expert replicas.
//
// A dispatched row carries everything the receiving rank needs, so one all-to-all moves it, as
// one byte row: the token's hidden state (H values in the dispatch dtype: f32, bf16, or fp8
// e4m3 followed by one f32 scale per 128 values), then k int32 local slot indices on the
// receiving rank (-1 when the slot goes elsewhere) and k f32 routing weights. The combine
// always returns f32 rows: they carry weighted expert outputs, whose rounding would add up over
// the k experts of a token.
#ifndef SWITCHYARD_CORE_MOE_EXPERT_PARALLEL_H_
#define SWITCHYARD_CORE_MOE_EXPERT_PARALLEL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/moe/expert_placement.h"
#include "core/plugin_host/comm.h"
#include "core/plugin_host/router.h"

namespace sy {

class OnlineRebalancer;  // online_rebalancer.h

// How the hidden part of a dispatched row travels. kF32 is exact; kBF16 halves the bytes;
// kFP8 quarters them: e4m3 with one f32 scale (amax / 448) per group of 128 values, DeepSeek
// V3's activation layout, so one outlier only coarsens its own group.
enum class DispatchDType { kF32, kBF16, kFP8 };
inline constexpr int64_t kDispatchFp8Group = 128;

// "f32", "bf16" or "fp8"; anything else is an error listing those.
absl::StatusOr<DispatchDType> ParseDispatchDType(absl::string_view name);
const char* DispatchDTypeName(DispatchDType dtype);
// Bytes of `hidden` values encoded as `dtype` (fp8: with its group scales).
int64_t DispatchHiddenBytes(DispatchDType dtype, int64_t hidden);
// Bytes of one dispatched row: the hidden part plus k int32 slot ids and k f32 weights.
int64_t DispatchRowBytes(DispatchDType dtype, int64_t hidden, int k);
// One row's hidden part `x` [hidden] encoded as `dtype` at `out` (DispatchHiddenBytes bytes; fp8:
// e4m3 [hidden], then the f32 scales), and decoded back. The GPU's encoder matches these bytes.
void EncodeDispatchHidden(const float* x, int64_t hidden, DispatchDType dtype, uint8_t* out);
void DecodeDispatchHidden(const uint8_t* in, int64_t hidden, DispatchDType dtype, float* x);

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
  DispatchDType dispatch_dtype = DispatchDType::kF32;
  // How long a rank waits in a collective before it gives up on the others (the comm group's
  // timeout_ms): whatever keeps the ranks waiting must call one more often (an idle server's
  // keep-alive, core/serving/engine.h).
  absl::Duration timeout = absl::InfiniteDuration();
  // Steps (and idle passes) whose MoE layers exchanged directly through the backend's peer
  // memory, and those that went through its all-to-all (core/model/cuda_direct_exchange.h);
  // counted by the thread that runs the model, read by /metrics.
  struct ExchangeSteps {
    std::atomic<int64_t> direct{0}, collective{0};
  };
  std::shared_ptr<ExchangeSteps> exchange_steps = std::make_shared<ExchangeSteps>();

  int rank() const { return comm->rank(); }
  int world_size() const { return comm->world_size(); }
};

// Where one layer's routed pairs go, without the hidden states: the rows this rank sends (one
// per token and destination rank, grouped by rank in rank order, tokens ascending within a
// rank) and what each row tells its receiver, k local slot ids (-1: that pair goes to another
// rank) and k routing weights (0 there). The GPU path packs rows on the device from this.
struct DispatchRoutes {
  std::vector<int64_t> send_counts;  // rows per destination rank
  std::vector<int32_t> row_token;    // the token each send row came from
  std::vector<int32_t> row_slots;    // [rows * k] local slot ids on the receiving rank
  std::vector<float> row_weights;    // [rows * k]
};

// The routes of `slots` ([tokens * k] physical slots, -1 where dropped) weighted by `weights`
// ([tokens * k]) under `placement`.
DispatchRoutes RouteDispatch(std::span<const int32_t> slots, std::span<const float> weights, int k,
                             const ExpertPlacement& placement, int world_size);

// Sums host `data` (i64 or f32) over the ranks in place. Collective. On a GPU's context the
// values travel through its memory (NCCL and the one-sided backends move device memory only).
absl::Status AllReduceHostSum(ExecContext& ctx, Comm& comm, Tensor& data);

// The rows this rank sends in one layer's dispatch.
struct DispatchPlan {
  std::vector<int64_t> send_counts;  // rows per destination rank
  std::vector<int32_t> row_token;    // the token each send row came from
  Tensor rows;                       // u8 [rows, DispatchRowBytes], grouped by destination rank
};

// Builds the dispatch of `hidden` (f32 [tokens, H]) routed by `routing` ([tokens, k]) with
// `slots` ([tokens * k], the physical slot of each routed pair, -1 where dropped), the hidden
// part encoded as `dtype`.
absl::StatusOr<DispatchPlan> PlanDispatch(const Tensor& hidden, const RouterOutput& routing,
                                          const std::vector<int32_t>& slots,
                                          const ExpertPlacement& placement, int world_size,
                                          DispatchDType dtype);

// The received rows split back into what an experts component takes: hidden f32 [rows, H] and
// routing ([rows, k] local slot ids and weights), the hidden part decoded from `dtype`.
struct ReceivedTokens {
  Tensor hidden;
  RouterOutput routing;
};
absl::StatusOr<ReceivedTokens> UnpackDispatch(const Tensor& rows, int64_t hidden_size, int k,
                                              DispatchDType dtype);

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
