// The direct exchange's kernels (expert_parallel_direct.h has the protocol). Rows move as
// 16-byte words when the row's bytes and addresses allow, else as 4-byte words.
#include "kernels/moe/expert_parallel_direct.h"
#include "kernels/moe/sm90_common.cuh"
#include "kernels/system_scope_flags.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool Failed(const int* error) {
  return *static_cast<const volatile int*>(error) != 0;
}

__device__ __forceinline__ unsigned long long Seq(const DirectExchange& ex) {
  return *ex.seq_base + ex.layer;
}

// Threads [0, world) each wait for flags[q] >= seq (flags: this rank's dispatched or combined
// array); false in every thread of the CTA once one gave up or an earlier wait had.
__device__ bool WaitForEveryRank(const DirectExchange& ex, const unsigned long long* flags) {
  bool ok = true;
  if (threadIdx.x < ex.world) {
    const unsigned long long deadline = GlobalTimerNs() + ex.timeout_ns, seq = Seq(ex);
    while (LoadAcquireSystem(&flags[threadIdx.x]) < seq) {
      if (Failed(ex.error)) {
        ok = false;
        break;
      }
      if (GlobalTimerNs() > deadline) {
        atomicCAS(ex.error, 0, static_cast<int>(threadIdx.x) + 1);
        ok = false;
        break;
      }
    }
  }
  return __syncthreads_and(ok) != 0;
}

// Every thread of every CTA calls this after its last store of the exchange: the last CTA to
// arrive raises flag `which` (dispatched or combined) = seq for this rank in every rank's flags.
__device__ void SignalEveryRank(const DirectExchange& ex, bool dispatched) {
  __threadfence_system();
  __syncthreads();
  if (threadIdx.x != 0) return;
  if (atomicAdd(ex.arrived, 1u) != gridDim.x - 1) return;
  __threadfence();
  *ex.arrived = 0;  // for the next kernel: nothing else touches it until this one ends
  const unsigned long long seq = Seq(ex);
  for (int q = 0; q < ex.world; ++q) {
    DirectFlags* flags = ex.areas[q].flags;
    StoreReleaseSystem(dispatched ? &flags->dispatched[ex.rank] : &flags->combined[ex.rank], seq);
  }
}

// Copies `bytes` (a multiple of 4) from src to dst by the CTA's threads.
__device__ void CopyRow(void* dst, const void* src, int64_t bytes) {
  if (bytes % 16 == 0 &&
      ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & 15) == 0) {
    const uint4* s = static_cast<const uint4*>(src);
    uint4* d = static_cast<uint4*>(dst);
    for (int64_t i = threadIdx.x; i < bytes / 16; i += kThreads) d[i] = s[i];
    return;
  }
  const uint32_t* s = static_cast<const uint32_t*>(src);
  uint32_t* d = static_cast<uint32_t*>(dst);
  for (int64_t i = threadIdx.x; i < bytes / 4; i += kThreads) d[i] = s[i];
}

// For each of a token's pairs j (pair `first` + j) whose expert has several replicas:
// turns[j] = the earlier pairs of the same expert (token * k + j order), counted by the CTA.
__device__ __forceinline__ void CountTurns(const int32_t* ids, const int32_t* replica_begin,
                                           int32_t first, int32_t k, int32_t* turns) {
  if (threadIdx.x < k) turns[threadIdx.x] = 0;
  __syncthreads();
  for (int32_t j = 0; j < k; ++j) {
    const int32_t e = ids[first + j];
    if (e < 0 || replica_begin[e + 1] - replica_begin[e] == 1) continue;  // alike in every thread
    int32_t mine = 0;
    // Four loads in flight; the compiler's own unrolling spilled registers.
#pragma unroll 4
    for (int32_t i = threadIdx.x; i < first + j; i += kThreads) mine += ids[i] == e;
    if (mine > 0) atomicAdd(&turns[j], mine);
  }
  __syncthreads();
}

// The slot of a pair of expert e >= 0 on its `turn` among that expert's pairs:
// ExpertPlacement::AssignReplicas on the device (a replica on this rank first, else the
// ranks' replicas in turn).
__device__ __forceinline__ int32_t AssignReplica(const DirectExchange& ex,
                                                 const DirectDispatchArgs& a, int32_t e,
                                                 int32_t turn) {
  const int32_t* slots = a.replica_slots + a.replica_begin[e];
  const int32_t n = a.replica_begin[e + 1] - a.replica_begin[e];
  if (n == 1) return slots[0];
  int32_t local = 0;
  for (int32_t m = 0; m < n; ++m) local += slots[m] / a.slots_per_rank == ex.rank;
  if (local == 0) return slots[(ex.rank + turn) % n];
  for (int32_t m = 0, seen = 0; m < n; ++m) {
    if (slots[m] / a.slots_per_rank != ex.rank) continue;
    if (seen++ == turn % local) return slots[m];
  }
  return -1;  // unreachable: `local` replicas were counted above
}

__global__ void sm90_ep_direct_begin_step(unsigned long long* seq_base, unsigned long long value) {
  *seq_base = value;
}

__global__ void __launch_bounds__(kThreads)
    sm90_ep_direct_dispatch(const DirectExchange ex, const DirectDispatchArgs a) {
  __shared__ int32_t slots[kMaxDirectTopK], turns[kMaxDirectTopK];
  if (Failed(ex.error)) return;
  const int32_t k = ex.top_k;
  const int64_t tokens = ex.row_begin[ex.rank + 1] - ex.row_begin[ex.rank];
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    // A rank's pairs fit 32 bits.
    CountTurns(a.ids, a.replica_begin, static_cast<int32_t>(t * k), k, turns);
    if (threadIdx.x < k) {
      const int32_t e = a.ids[t * k + threadIdx.x];
      slots[threadIdx.x] = e < 0 ? -1 : AssignReplica(ex, a, e, turns[threadIdx.x]);
    }
    __syncthreads();
    const int64_t row = ex.row_begin[ex.rank] + t;
    uint32_t mask = 0;
    for (int q = 0; q < ex.world; ++q) {
      const DirectRankAreas& to = ex.areas[q];
      bool here = false;
      if (threadIdx.x < k) {
        const int32_t slot = slots[threadIdx.x];
        here = slot >= 0 && slot / a.slots_per_rank == q;
        to.ids[row * k + threadIdx.x] = here ? slot - q * a.slots_per_rank : -1;
        to.weights[row * k + threadIdx.x] = here ? a.weights[t * k + threadIdx.x] : 0.0f;
      }
      if (__syncthreads_or(here)) {
        CopyRow(to.payload + row * ex.payload_bytes, a.payload + t * ex.payload_bytes,
                ex.payload_bytes);
        mask |= 1u << q;
      }
    }
    if (threadIdx.x == 0) ex.sent_mask[t] = mask;
    __syncthreads();  // `slots` is rewritten by the next token
  }
  SignalEveryRank(ex, /*dispatched=*/true);
}

__global__ void __launch_bounds__(kThreads) sm90_ep_direct_wait(const DirectExchange ex) {
  WaitForEveryRank(ex, ex.areas[ex.rank].flags->dispatched);
}

__global__ void __launch_bounds__(kThreads)
    sm90_ep_direct_combine(const DirectExchange ex, const float* expert_out) {
  if (Failed(ex.error)) return;
  const DirectRankAreas& mine = ex.areas[ex.rank];
  const int64_t rows = ex.row_begin[ex.world];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    bool here = false;
    if (threadIdx.x < ex.top_k) here = mine.ids[row * ex.top_k + threadIdx.x] >= 0;
    if (!__syncthreads_or(here)) continue;
    int q = 0;
    while (row >= ex.row_begin[q + 1]) ++q;
    const int64_t owner_tokens = ex.row_begin[q + 1] - ex.row_begin[q];
    float* dst =
        ex.areas[q].returned + (ex.rank * owner_tokens + (row - ex.row_begin[q])) * ex.hidden;
    CopyRow(dst, expert_out + row * ex.hidden, 4 * ex.hidden);
  }
  SignalEveryRank(ex, /*dispatched=*/false);
}

__global__ void __launch_bounds__(kThreads)
    sm90_ep_direct_add(const DirectExchange ex, float* out) {
  const DirectRankAreas& mine = ex.areas[ex.rank];
  if (!WaitForEveryRank(ex, mine.flags->combined)) return;
  const int64_t tokens = ex.row_begin[ex.rank + 1] - ex.row_begin[ex.rank];
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    const uint32_t mask = ex.sent_mask[t];
    for (int64_t c = threadIdx.x; c < ex.hidden; c += kThreads) {
      float sum = out[t * ex.hidden + c];
      for (int q = 0; q < ex.world; ++q) {
        if (mask >> q & 1u) sum += mine.returned[(q * tokens + t) * ex.hidden + c];
      }
      out[t * ex.hidden + c] = sum;
    }
  }
}

std::string CheckExchange(const DirectExchange& ex) {
  if (ex.world < 1 || ex.world > kMaxDirectRanks || ex.rank < 0 || ex.rank >= ex.world) {
    return "expert-parallel direct exchange: rank " + std::to_string(ex.rank) + " of " +
           std::to_string(ex.world) + " (at most " + std::to_string(kMaxDirectRanks) + " ranks)";
  }
  if (ex.seq_base == nullptr || ex.layer < 1) {
    return "expert-parallel direct exchange: no seq base, or layer 0 (layers count from 1)";
  }
  if (ex.top_k < 1 || ex.top_k > kMaxDirectTopK || ex.hidden < 1 || ex.payload_bytes < 4 ||
      ex.payload_bytes % 4 != 0) {
    return "expert-parallel direct exchange: top-k " + std::to_string(ex.top_k) + " (at most " +
           std::to_string(kMaxDirectTopK) + "), hidden " + std::to_string(ex.hidden) +
           ", payload " + std::to_string(ex.payload_bytes) + " bytes (whole words)";
  }
  return "";
}

// One CTA a row up to 16 an SM; at least one CTA, which signals even with no rows.
dim3 RowGrid(int64_t rows) {
  return dim3(static_cast<unsigned>(std::clamp<int64_t>(rows, 1, 16 * MultiprocessorCount())));
}

}  // namespace

std::string LaunchDirectBeginStep(unsigned long long* seq_base, unsigned long long value,
                                  void* stream) {
  return Launch("sm90_ep_direct_begin_step", sm90_ep_direct_begin_step, dim3(1), dim3(1), 0, stream,
                false, seq_base, value);
}

std::string LaunchDirectDispatch(const DirectExchange& ex, const DirectDispatchArgs& args,
                                 void* stream) {
  if (std::string err = CheckExchange(ex); !err.empty()) return err;
  const int64_t tokens = ex.row_begin[ex.rank + 1] - ex.row_begin[ex.rank];
  return Launch("sm90_ep_direct_dispatch", sm90_ep_direct_dispatch, RowGrid(tokens), dim3(kThreads),
                0, stream, false, ex, args);
}

std::string LaunchDirectWait(const DirectExchange& ex, void* stream) {
  if (std::string err = CheckExchange(ex); !err.empty()) return err;
  return Launch("sm90_ep_direct_wait", sm90_ep_direct_wait, dim3(1), dim3(kThreads), 0, stream,
                false, ex);
}

std::string LaunchDirectCombine(const DirectExchange& ex, const float* expert_out, void* stream) {
  if (std::string err = CheckExchange(ex); !err.empty()) return err;
  return Launch("sm90_ep_direct_combine", sm90_ep_direct_combine, RowGrid(ex.row_begin[ex.world]),
                dim3(kThreads), 0, stream, false, ex, expert_out);
}

std::string LaunchDirectAdd(const DirectExchange& ex, float* out, void* stream) {
  if (std::string err = CheckExchange(ex); !err.empty()) return err;
  const int64_t tokens = ex.row_begin[ex.rank + 1] - ex.row_begin[ex.rank];
  return Launch("sm90_ep_direct_add", sm90_ep_direct_add, RowGrid(tokens), dim3(kThreads), 0,
                stream, false, ex, out);
}

}  // namespace sy::kernels
