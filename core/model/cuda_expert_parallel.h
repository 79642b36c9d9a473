// Expert parallelism on the GPU (CudaNetwork under launch): one MoE layer's dispatch, the local
// experts and the combine, with the rows on the device the whole way.
//
//   routing (device) -> ids and weights to the host -> replicas and routes
//   (ExpertPlacement::AssignReplicas, RouteDispatch: the CPU path's own code) -> counts
//   exchanged -> rows packed on the device (the token's bf16 MoE input + the receiver's local
//   slot ids and weights) -> all-to-all -> the MoE kernels over the received rows and the local
//   slots -> f32 weighted sums all-to-all back -> each token adds its sums in rank order.
//
// That collective path reads each layer's routing on the host to size the exchange (as DeepEP's
// normal mode does). When the comm backend offers peer memory and the step's rows fit, the
// layer takes the direct exchange instead (cuda_direct_exchange.h): kernels write the rows
// straight into the other ranks' memory and the routing stays on the device, so a decode step
// that took it can be a CUDA graph (CudaNetwork keys it by every rank's tokens); a step on the
// collective path, which waits on the host each layer, runs eagerly. The rows carry the bf16
// values the experts read on one GPU too, so the dispatch costs no precision, or, with
// --dispatch-dtype fp8, those values as e4m3 with a scale per 128 (the CPU path's encoding,
// decoded back to bf16 on arrival); the combine is f32, as on the CPU path
// (core/moe/expert_parallel.h).
//
// Online rebalancing (core/moe/online_rebalancer.h): each layer's routing goes to the
// rebalancer, which may switch the placement at a step's end. A layer whose placement moved
// re-fills, before its next exchange, the slots that now hold another expert: from the
// checkpoint's pages (mapped, so shared by the ranks of a host) or, for random weights, drawn
// again from the seeds they were drawn from at load. No weights travel between ranks.
#ifndef SWITCHYARD_CORE_MODEL_CUDA_EXPERT_PARALLEL_H_
#define SWITCHYARD_CORE_MODEL_CUDA_EXPERT_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "core/device/exec_context.h"
#include "core/model/checkpoint.h"
#include "core/model/cuda_direct_exchange.h"
#include "core/model/cuda_network_weights.h"
#include "core/model/device_arena.h"
#include "core/moe/expert_parallel.h"

namespace sy {

class CudaExpertParallel {
 public:
  // `checkpoint`: where re-filled slots are read from (nullopt: random weights). top_k and
  // hidden: the model's.
  CudaExpertParallel(std::shared_ptr<const ExpertParallelism> ep,
                     std::optional<Checkpoint> checkpoint, Device device, int32_t top_k,
                     int64_t hidden);

  const ExpertParallelism& ep() const { return *ep_; }

  // One MoE layer of this rank's tokens (all device pointers, on ctx's stream).
  struct Layer {
    int32_t moe_index = 0;         // the layer's index among the MoE layers (the placement's)
    const uint16_t* x = nullptr;   // bf16 [tokens, hidden]: the experts' input
    const int32_t* ids = nullptr;  // [tokens, top_k] global expert ids (-1: dropped)
    const float* weights = nullptr;
    int64_t tokens = 0, hidden = 0;
    int32_t top_k = 0;
    float* out = nullptr;  // f32 [tokens, hidden]: each token's weighted sum is added here
  };
  // Dispatches `layer`'s tokens, runs `local` (this rank's slots, in slot order) on the rows the
  // ranks sent here, and adds the combined sums into layer.out. Collective: every rank runs
  // every MoE layer in the same order, with zero tokens when it has none. Re-fills `local` first
  // when the placement moved its experts.
  absl::Status RunLayer(ExecContext& ctx, CudaExperts& local, const Layer& layer);

  // Before each step's (or idle pass's) MoE layers: every rank's tokens in the step, the same
  // vector on every rank. Picks the step's exchange: true when direct.
  absl::StatusOr<bool> BeginStep(ExecContext& ctx, std::span<const int64_t> rank_tokens);
  // Whether the step begun last takes the direct exchange: only such a step can be captured.
  bool direct_step() const { return direct_ && direct_->active(); }
  // Every rank's tokens in the step begun last: a captured step replays only with the same.
  const std::vector<int64_t>& step_rank_tokens() const { return step_rank_tokens_; }
  // Changes whenever memory the layers' kernels address moves (a captured step is then stale).
  uint64_t memory_generation() const;
  // After a step's stream has finished: UNAVAILABLE naming a rank the direct exchange gave up
  // waiting for (its kernels cannot fail a call themselves).
  absl::Status CheckPeers() const;

 private:
  // Makes `local` hold this rank's slots of the placement in force.
  absl::Status FollowPlacement(int32_t moe_index, CudaExperts& local, void* stream);
  // The exchange's counts, through device buffers kept across layers.
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(ExecContext& ctx,
                                                      const std::vector<int64_t>& send_counts);
  absl::StatusOr<void*> LocalWorkspace(size_t bytes, void* stream);
  // The MoE kernels over `rows` received rows and this rank's slots: f32 sums into out.
  absl::Status RunLocalExperts(CudaExperts& local, const uint16_t* x, const int32_t* ids,
                               const float* weights, int64_t rows, int32_t top_k, float* out,
                               void* stream);
  absl::Status RunLayerDirect(CudaExperts& local, const Layer& layer, void* stream);

  std::shared_ptr<const ExpertParallelism> ep_;
  std::optional<Checkpoint> checkpoint_;
  Device device_;
  int32_t top_k_;
  int64_t hidden_;
  bool direct_tried_ = false;
  std::unique_ptr<CudaDirectExchange> direct_;  // null: the backend has no peer memory
  std::vector<int64_t> step_rank_tokens_;       // as BeginStep was told
  // The placement each MoE layer's local slots were filled for.
  std::vector<std::shared_ptr<const ExpertPlacement>> filled_for_;
  Tensor counts_;       // i64 [2 * world, 1] on the device: sent, then received
  Tensor host_counts_;  // the same, pinned
  Arena rows_;          // the plan, the rows both ways, the local experts' input and output
  Arena workspace_;     // the MoE kernels' scratch for the received rows
  uint64_t workspace_initialized_ = 0;  // the generation of workspace_ whose state is zeroed
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CUDA_EXPERT_PARALLEL_H_
