// Flags that kernels of different GPUs (or processes) hand each other through memory mapped on
// both sides (CUDA IPC, peer access): a system-scope release store, its acquire load, and the
// GPU's nanosecond clock for wait deadlines. Shared by comm.nvlink's one-sided exchange and
// the model's direct expert exchange (kernels/moe/sm90_expert_parallel_direct.cu).
#ifndef SWITCHYARD_KERNELS_SYSTEM_SCOPE_FLAGS_CUH_
#define SWITCHYARD_KERNELS_SYSTEM_SCOPE_FLAGS_CUH_

namespace sy::kernels {

__device__ __forceinline__ void StoreReleaseSystem(unsigned long long* p, unsigned long long v) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

__device__ __forceinline__ unsigned long long LoadAcquireSystem(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ unsigned long long GlobalTimerNs() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_SYSTEM_SCOPE_FLAGS_CUH_
