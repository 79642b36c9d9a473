// Expert parallelism's direct exchange: one MoE layer's dispatch and combine written by kernels
// straight into the other ranks' memory (a comm backend's peer memory, plugin_abi.h 1.5), with
// no host round trip, as DeepEP's low-latency mode does. core/model/cuda_expert_parallel.h runs
// it; docs/expert-parallelism.md#direct-dispatch has the design.
//
// Every rank knows every rank's token count for the step, so every receiver's rows are laid
// out alike on all ranks: rank q's token t is row row_begin[q] + t of every receiver, whether
// or not any of its experts live there. Per layer, on each rank's stream:
//   1. sm90_ep_direct_dispatch: each token picks a replica for each of its k experts (exactly
//      as ExpertPlacement::AssignReplicas does on the host), then writes to every rank its row
//      of local slot ids (-1 where the expert lives elsewhere) and weights, and its payload
//      where at least one id is not -1; the last CTA raises dispatched[me] = seq in every
//      rank's flags (seq: the layer's number, the same on every rank, larger than any before);
//      a token's payload is its bf16 hidden state, or that encoded as fp8 before the dispatch
//      (LaunchEncodeDispatchFp8, moe_cuda.h) and decoded after the wait;
//   2. sm90_ep_direct_wait: waits for every rank's dispatched flag here; the MoE kernels then run
//      over all rows (a row whose ids are all -1 costs nothing);
//   3. sm90_ep_direct_combine: each received row with an id here sends its f32 weighted sum back
//      into its owner's `returned` area; the last CTA raises combined[me] = seq everywhere;
//   4. sm90_ep_direct_add: waits for every rank's combined flag, then each token adds the sums
//      of the ranks it went to, in rank order (the collective path's order: same result).
// A wait that passes the deadline writes peer + 1 to *error (host-mapped) and returns; every
// kernel returns at once while *error is set, so a dead rank costs one timeout, not one a layer.
//
// A layer's seq is read on the device (*seq_base + layer), not passed in: the kernels' arguments
// then stay the same from step to step, so a decode step's launches can be captured once in a
// CUDA graph and replayed, with sm90_ep_direct_begin_step moving the base before each replay.
#ifndef SWITCHYARD_KERNELS_MOE_EXPERT_PARALLEL_DIRECT_H_
#define SWITCHYARD_KERNELS_MOE_EXPERT_PARALLEL_DIRECT_H_

#include <cstdint>
#include <string>

namespace sy::kernels {

inline constexpr int kMaxDirectRanks = 32;  // a token's destinations fit a 32-bit mask
inline constexpr int kMaxDirectTopK = 32;

// The flags at the start of each rank's peer memory; rank q writes only its own entries.
struct DirectFlags {
  unsigned long long dispatched[kMaxDirectRanks];
  unsigned long long combined[kMaxDirectRanks];
};

// Where one rank's areas are, as mapped in this process.
struct DirectRankAreas {
  DirectFlags* flags = nullptr;
  uint8_t* payload = nullptr;  // [rows, payload_bytes]: every rank's rows
  int32_t* ids = nullptr;      // [rows, top_k] local slot ids on this rank, -1 elsewhere
  float* weights = nullptr;    // [rows, top_k]
  float* returned = nullptr;   // f32 [world, its tokens, hidden]: sums from rank q at q * tokens
};

// What every kernel of the exchange shares.
struct DirectExchange {
  int32_t rank = 0, world = 1;
  int64_t hidden = 0;
  int64_t payload_bytes = 0;  // a row's payload: 2 hidden (bf16) or its fp8 encoding; whole words
  int32_t top_k = 0;
  int64_t row_begin[kMaxDirectRanks + 1] = {};  // rank q's rows: [row_begin[q], row_begin[q+1])
  DirectRankAreas areas[kMaxDirectRanks];
  // The layer's seq is *seq_base + layer: seq_base is device memory that
  // LaunchDirectBeginStep sets at each step's start, layer (>= 1) the layer's place in the step.
  const unsigned long long* seq_base = nullptr;
  unsigned long long layer = 0;
  unsigned long long timeout_ns = 0;  // how long a wait may spin
  unsigned int* arrived = nullptr;    // device, zeroed once: CTAs done (the last one signals)
  uint32_t* sent_mask = nullptr;      // device [my tokens]: the ranks each token went to
  int* error = nullptr;               // host-mapped: peer + 1 once a wait gave up
};

// One layer's routing on this rank and the placement that turns experts into slots.
struct DirectDispatchArgs {
  const uint8_t* payload = nullptr;  // [tokens, payload_bytes]
  const int32_t* ids = nullptr;      // [tokens, top_k] global expert ids (-1: dropped)
  const float* weights = nullptr;
  int32_t slots_per_rank = 0;              // slot s lives on rank s / slots_per_rank
  const int32_t* replica_begin = nullptr;  // [experts + 1] into replica_slots
  const int32_t* replica_slots = nullptr;  // each expert's slots, in the placement's order
};

// Queues the write of the step's seq base (grown past every seq of the steps before).
std::string LaunchDirectBeginStep(unsigned long long* seq_base, unsigned long long value,
                                  void* stream);
std::string LaunchDirectDispatch(const DirectExchange& ex, const DirectDispatchArgs& args,
                                 void* stream);
std::string LaunchDirectWait(const DirectExchange& ex, void* stream);
// expert_out: f32 [rows, hidden], the MoE kernels' weighted sums of this rank's rows.
std::string LaunchDirectCombine(const DirectExchange& ex, const float* expert_out, void* stream);
// out: f32 [my tokens, hidden], each token's sums added in.
std::string LaunchDirectAdd(const DirectExchange& ex, float* out, void* stream);

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_EXPERT_PARALLEL_DIRECT_H_
