// Expert parallelism's direct exchange on the GPU (kernels/moe/expert_parallel_direct.h has the
// protocol): when the comm backend offers peer memory (plugin_abi.h 1.5: comm.nvlink), a step's
// MoE layers dispatch and combine through kernels that write straight into the other ranks'
// memory, with the routing never leaving the device: no host wait, no counts exchange per
// layer. A step takes it when every rank's rows fit the peer memory; the step's token counts,
// which every rank learns at the step's start, lay the rows out alike on every rank.
//
// Every launch of a step takes the same arguments as the last step of the same token counts
// (each layer's seq is read on the device, from a base BeginStep moves), so CudaNetwork
// captures direct decode steps in CUDA graphs as it does on one GPU.
//
// Not taken (the collective path runs instead) with online rebalancing, whose placement changes
// between steps and whose counts need the routing on the host, or with
// SWITCHYARD_EP_DIRECT=0 (A/B against the collective path).
#ifndef SWITCHYARD_CORE_MODEL_CUDA_DIRECT_EXCHANGE_H_
#define SWITCHYARD_CORE_MODEL_CUDA_DIRECT_EXCHANGE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/model/device_arena.h"
#include "core/moe/expert_parallel.h"
#include "core/tensor/tensor.h"
#include "kernels/moe/expert_parallel_direct.h"

namespace sy {

class CudaDirectExchange {
 public:
  // nullptr when the direct exchange cannot run here (see above); an error only when the
  // backend fails. Collective: every rank connects at the same point.
  static absl::StatusOr<std::unique_ptr<CudaDirectExchange>> Connect(
      ExecContext& ctx, std::shared_ptr<const ExpertParallelism> ep, int32_t top_k, int64_t hidden);
  ~CudaDirectExchange();

  // The step's tokens on every rank (the same vector on every rank): whether its layers take
  // the direct exchange (every rank decides alike). `stream`: where the step's layers run.
  absl::StatusOr<bool> BeginStep(std::span<const int64_t> rank_tokens, Device device, void* stream);
  bool active() const { return active_; }
  // Changes whenever memory the step's kernels address moves (a graph of an older step is stale).
  uint64_t memory_generation() const { return local_.generation(); }

  // This rank's received rows, valid between Dispatch and Combine: every rank's tokens, each
  // with its local slot ids here (all -1: nothing for this rank) and weights.
  struct Received {
    const uint16_t* x;
    const int32_t* ids;
    const float* weights;
    int64_t rows;
  };
  // Sends this rank's tokens (bf16 x, global expert ids, weights on the device) of MoE layer
  // `moe_index` (each at most once a step) and waits, on `stream`, until every rank's have arrived.
  absl::StatusOr<Received> Dispatch(int32_t moe_index, const uint16_t* x, const int32_t* ids,
                                    const float* weights, void* stream);
  // Returns each received row's weighted sum (expert_out, f32 [rows, hidden]) to its token's
  // rank and adds the sums that came back into out (f32 [my tokens, hidden]).
  absl::Status Combine(const float* expert_out, float* out, void* stream);

  // UNAVAILABLE naming the rank a wait gave up on, once one did.
  absl::Status CheckPeers() const;

 private:
  CudaDirectExchange(std::shared_ptr<const ExpertParallelism> ep, std::vector<void*> peers,
                     size_t peer_bytes, int32_t top_k, int64_t hidden);
  // Starts the steps' seqs above every flag in the peer memory, which an earlier exchange over
  // the same backend may have left raised (bench a2a connects one a dispatch dtype). Collective.
  absl::Status StartAboveEveryFlag(ExecContext& ctx);
  // Uploads the placement's replicas of every MoE layer.
  absl::Status LoadPlacement(Device device);

  std::shared_ptr<const ExpertParallelism> ep_;
  std::vector<void*> peers_;  // every rank's peer memory, mapped here
  size_t peer_bytes_;
  kernels::DirectExchange ex_;        // the step's layout
  std::shared_ptr<Buffer> seq_base_;  // device: the step's seq base (DirectExchange::seq_base)
  unsigned long long next_base_ = 0;  // the next step's; every step's layers number 1..layers
  bool fp8_ = false;                  // payloads encoded as fp8 (--dispatch-dtype fp8)
  uint8_t* staged_ = nullptr;         // fp8: this rank's tokens encoded, in local_
  uint16_t* decoded_ = nullptr;       // fp8: every received row as bf16, in local_
  bool active_ = false;
  Tensor replica_begin_, replica_slots_;  // the placement per MoE layer, on the device
  int64_t experts_ = 0;
  Arena local_;                // the arrival counter, each token's destination mask, fp8 rows
  uint64_t local_zeroed_ = 0;  // the generation of local_ whose counter is zeroed
  int* error_ = nullptr;       // pinned, mapped: peer + 1 once a wait gave up
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CUDA_DIRECT_EXCHANGE_H_
