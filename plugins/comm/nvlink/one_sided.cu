#include <algorithm>
#include <cstdint>

#include "kernels/system_scope_flags.cuh"
#include "one_sided.h"

namespace sy::plugins::nvlink {
namespace {

using kernels::GlobalTimerNs;
using kernels::LoadAcquireSystem;
using kernels::StoreReleaseSystem;

constexpr int kThreads = 512;

// Spins until *flag >= seq; false (and *error = peer + 1) past the deadline.
__device__ bool WaitFlag(const unsigned long long* flag, unsigned long long seq,
                         unsigned long long deadline, int peer, int* error) {
  while (LoadAcquireSystem(flag) < seq) {
    if (GlobalTimerNs() > deadline) {
      atomicExch(error, peer + 1);
      return false;
    }
  }
  return true;
}

// Block `block` of `blocks`' share of bytes [0, n) of src -> dst.
__device__ void CopyShare(char* dst, const char* src, unsigned long long n, unsigned block,
                          unsigned blocks) {
  const unsigned long long per_block = (n + blocks - 1) / blocks;
  const unsigned long long begin = min(n, ((per_block + 15) / 16) * 16 * block);
  const unsigned long long end = min(n, begin + ((per_block + 15) / 16) * 16);
  if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & 15) == 0) {
    const unsigned long long vec_end = begin + ((end - begin) / 16) * 16;
    const uint4* s = reinterpret_cast<const uint4*>(src + begin);
    uint4* d = reinterpret_cast<uint4*>(dst + begin);
    const unsigned long long count = (vec_end - begin) / 16;
    unsigned long long i = threadIdx.x;
    for (; i + 3 * kThreads < count; i += 4 * kThreads) {  // four 16-byte loads in flight
      const uint4 a = s[i], b = s[i + kThreads], c = s[i + 2 * kThreads], e = s[i + 3 * kThreads];
      d[i] = a;
      d[i + kThreads] = b;
      d[i + 2 * kThreads] = c;
      d[i + 3 * kThreads] = e;
    }
    for (; i < count; i += kThreads) d[i] = s[i];
    for (unsigned long long j = vec_end + threadIdx.x; j < end; j += kThreads) dst[j] = src[j];
  } else {
    for (unsigned long long j = begin + threadIdx.x; j < end; j += kThreads) dst[j] = src[j];
  }
}

__global__ void __launch_bounds__(kThreads) OneSidedExchange(ExchangeParams p) {
  __shared__ unsigned long long dest;
  __shared__ bool ok;
  const unsigned long long deadline = GlobalTimerNs() + p.timeout_ns;
  Control* mine = p.control[p.rank];
  if (blockIdx.x == 0 && threadIdx.x < p.world) {  // 1. where each sender's bytes go here
    Control* sender = p.control[threadIdx.x];
    *reinterpret_cast<volatile unsigned long long*>(&sender->dest[p.rank]) = p.my_dest[threadIdx.x];
    StoreReleaseSystem(&sender->ready[p.rank], p.seq);
  }
  // 2. every peer's bytes, starting with the next rank. With a block for each peer that has
  // bytes, the blocks split into one group per peer, sized by its bytes, so the copies to
  // every peer (and to this rank's own memory) run at once rather than one after the other;
  // with fewer blocks, every block takes a share of every peer's bytes in turn.
  unsigned long long total = 0;
  unsigned busy = 0;
  for (int q = 0; q < p.world; ++q) {
    total += p.send_bytes[q];
    busy += p.send_bytes[q] > 0 ? 1u : 0u;
  }
  const bool grouped = busy > 0 && gridDim.x >= busy;
  unsigned long long before = 0;  // bytes of the peers already passed
  unsigned seen = 0;              // peers with bytes already passed
  for (int t = 0; t < p.world; ++t) {
    const int peer = (p.rank + 1 + t) % p.world;
    const unsigned long long bytes = p.send_bytes[peer];
    if (bytes == 0) continue;
    unsigned block = blockIdx.x, blocks = gridDim.x;
    if (grouped) {  // group [first, last): one block per peer, the rest by bytes
      const unsigned spare = gridDim.x - busy;
      const unsigned first = seen + static_cast<unsigned>(before * spare / total);
      const unsigned last = seen + 1 + static_cast<unsigned>((before + bytes) * spare / total);
      before += bytes;
      ++seen;
      if (blockIdx.x < first || blockIdx.x >= last) continue;
      block = blockIdx.x - first;
      blocks = last - first;
    }
    if (threadIdx.x == 0 && peer == p.rank) {  // no flag: block 0 may not be running yet
      ok = true;
      dest = p.my_dest[p.rank];
    } else if (threadIdx.x == 0) {
      ok = WaitFlag(&mine->ready[peer], p.seq, deadline, peer, p.error);
      dest = *reinterpret_cast<volatile unsigned long long*>(&mine->dest[peer]);
    }
    __syncthreads();
    if (!ok) return;
    CopyShare(p.workspace[peer] + dest, p.send + p.send_offset[peer], bytes, block, blocks);
    __syncthreads();
  }
  __threadfence_system();  // 3. this block's stores are visible everywhere before it counts
  __syncthreads();
  if (threadIdx.x != 0) return;
  if (atomicAdd(&mine->arrived, 1u) != gridDim.x - 1) return;
  mine->arrived = 0;  // the last block: every block's bytes are out
  __threadfence_system();
  for (int q = 0; q < p.world; ++q) StoreReleaseSystem(&p.control[q]->done[p.rank], p.seq);
  for (int q = 0; q < p.world; ++q) {
    if (!WaitFlag(&mine->done[q], p.seq, deadline, q, p.error)) return;
  }
}

template <typename T>
__global__ void SumSlots(const T* slots, int world, size_t slot_elements, size_t elements, T* out) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < elements;
       i += size_t{gridDim.x} * blockDim.x) {
    T sum = slots[i];
    for (int r = 1; r < world; ++r) sum += slots[r * slot_elements + i];
    out[i] = sum;
  }
}

}  // namespace

cudaError_t LaunchExchange(const ExchangeParams& params, int blocks, cudaStream_t stream) {
  OneSidedExchange<<<blocks, kThreads, 0, stream>>>(params);
  return cudaGetLastError();
}

cudaError_t LaunchSumSlots(const void* slots, int world, size_t slot_elements, size_t elements,
                           bool is_f32, void* out, cudaStream_t stream) {
  const int blocks = static_cast<int>(std::min<size_t>((elements + 255) / 256, 1024));
  if (blocks == 0) return cudaSuccess;
  if (is_f32) {
    SumSlots<<<blocks, 256, 0, stream>>>(static_cast<const float*>(slots), world, slot_elements,
                                         elements, static_cast<float*>(out));
  } else {
    SumSlots<<<blocks, 256, 0, stream>>>(static_cast<const long long*>(slots), world, slot_elements,
                                         elements, static_cast<long long*>(out));
  }
  return cudaGetLastError();
}

}  // namespace sy::plugins::nvlink
