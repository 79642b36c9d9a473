// Hopper's asynchronous tensor-core path for the sm_90a MoE kernels: warpgroup MMA (wgmma) on
// operands in shared memory, the shared-memory descriptors it reads them through, mbarriers
// for producer/consumer pipelines, and warpgroup register reallocation.
//
// Operand layout: every tile is K-major rows of 64 bf16 (128 bytes) in the 128-byte swizzle
// (the 16-byte chunk c of row r sits at chunk c ^ (r % 8)), 1024-byte aligned: what TMA's
// CU_TENSOR_MAP_SWIZZLE_128B writes, and what `Swizzle128` (sm90_common.cuh) computes for
// cp.async. A descriptor then names 8-row groups 1024 bytes apart; stepping 16 k values is
// 32 bytes on its start address.
#ifndef SWITCHYARD_KERNELS_MOE_SM90_WGMMA_CUH_
#define SWITCHYARD_KERNELS_MOE_SM90_WGMMA_CUH_

#include <cstdint>

#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {

// Descriptor of a K-major, 128-byte-swizzled tile at `tile` (1024-byte aligned).
__device__ __forceinline__ uint64_t WgmmaDescriptorSw128(const void* tile) {
  uint64_t d = (SmemAddress(tile) & 0x3FFFF) >> 4;  // start address, 16-byte units
  d |= uint64_t{16 >> 4} << 16;                     // leading offset: unused when swizzled
  d |= uint64_t{1024 >> 4} << 32;                   // stride offset: 8 rows x 128 bytes
  d |= uint64_t{1} << 62;                           // 128-byte swizzle
  return d;
}
// The descriptor `steps` wgmma K steps (32 bytes: 16 bf16 or 32 fp8) further along K within a
// swizzled row.
__device__ __forceinline__ uint64_t WgmmaDescriptorAdvanceK(uint64_t d, int steps) {
  return d + static_cast<uint64_t>(2 * steps);
}

// Orders this thread's register accesses to accumulators before the wgmma that follow.
__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N committed wgmma groups of this warpgroup are still running.
template <int N>
__device__ __forceinline__ void WgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// 64 f32 accumulators of a wgmma as inline-asm operands %0..%63: the register list, and the
// read-write operands of array `d` (m64n256 takes two: d and d + 64).
#define SY_WGMMA_F32X64_REGS                                                         \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define SY_WGMMA_F32X64_OPERANDS(d)                                                             \
  "+f"((d)[0]), "+f"((d)[1]), "+f"((d)[2]), "+f"((d)[3]), "+f"((d)[4]), "+f"((d)[5]),           \
      "+f"((d)[6]), "+f"((d)[7]), "+f"((d)[8]), "+f"((d)[9]), "+f"((d)[10]), "+f"((d)[11]),     \
      "+f"((d)[12]), "+f"((d)[13]), "+f"((d)[14]), "+f"((d)[15]), "+f"((d)[16]), "+f"((d)[17]), \
      "+f"((d)[18]), "+f"((d)[19]), "+f"((d)[20]), "+f"((d)[21]), "+f"((d)[22]), "+f"((d)[23]), \
      "+f"((d)[24]), "+f"((d)[25]), "+f"((d)[26]), "+f"((d)[27]), "+f"((d)[28]), "+f"((d)[29]), \
      "+f"((d)[30]), "+f"((d)[31]), "+f"((d)[32]), "+f"((d)[33]), "+f"((d)[34]), "+f"((d)[35]), \
      "+f"((d)[36]), "+f"((d)[37]), "+f"((d)[38]), "+f"((d)[39]), "+f"((d)[40]), "+f"((d)[41]), \
      "+f"((d)[42]), "+f"((d)[43]), "+f"((d)[44]), "+f"((d)[45]), "+f"((d)[46]), "+f"((d)[47]), \
      "+f"((d)[48]), "+f"((d)[49]), "+f"((d)[50]), "+f"((d)[51]), "+f"((d)[52]), "+f"((d)[53]), \
      "+f"((d)[54]), "+f"((d)[55]), "+f"((d)[56]), "+f"((d)[57]), "+f"((d)[58]), "+f"((d)[59]), \
      "+f"((d)[60]), "+f"((d)[61]), "+f"((d)[62]), "+f"((d)[63])

// d[64 x 256] (+)= A[64 x 16] . B[256 x 16]^T, bf16 in, f32 accumulators, both operands K-major
// in shared memory. `accumulate` = 0 overwrites d. Fragment of thread (warp w of the
// warpgroup, lane l): d[4j + 2h + e] is row 16w + l/4 + 8h, column 8j + 2(l%4) + e.
__device__ __forceinline__ void WgmmaM64N256K16Bf16(float (&d)[128], uint64_t a, uint64_t b,
                                                    int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" SY_WGMMA_F32X64_REGS
      ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, "
      "%127"
      "}, %128, %129, p, 1, 1, 0, 0;\n}\n"
      : SY_WGMMA_F32X64_OPERANDS(d), SY_WGMMA_F32X64_OPERANDS(d + 64)
      : "l"(a), "l"(b), "r"(accumulate));
}

// d[64 x 128] (+)= A[64 x 16] . B[128 x 16]^T, bf16 in, f32 accumulators, both operands
// K-major in shared memory. Fragment as WgmmaM64N256K16Bf16's, j < 16.
__device__ __forceinline__ void WgmmaM64N128K16Bf16(float (&d)[64], uint64_t a, uint64_t b,
                                                    int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" SY_WGMMA_F32X64_REGS
      "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : SY_WGMMA_F32X64_OPERANDS(d)
      : "l"(a), "l"(b), "r"(accumulate));
}

// d[64 x 128] (+)= A[64 x 32] . B[128 x 32]^T, fp8 e4m3 in, f32 accumulators, both operands
// K-major in shared memory (the only layout wgmma takes for 8-bit types). Fragment of thread
// (warp w, lane l): d[4j + 2h + e] is row 16w + l/4 + 8h, column 8j + 2(l%4) + e.
__device__ __forceinline__ void WgmmaM64N128K32E4m3(float (&d)[64], uint64_t a, uint64_t b,
                                                    int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {" SY_WGMMA_F32X64_REGS
      "}, %64, %65, p, 1, 1;\n}\n"
      : SY_WGMMA_F32X64_OPERANDS(d)
      : "l"(a), "l"(b), "r"(accumulate));
}

// Makes this thread's generic-proxy writes to shared memory (st.shared, cp.async) visible to
// the async proxy that wgmma reads operands through.
__device__ __forceinline__ void FenceProxyAsyncShared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// ---- mbarriers (shared memory, 8 bytes each) -------------------------------------------------

__device__ __forceinline__ void MbarrierInit(uint64_t* bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(SmemAddress(bar)), "r"(arrivals)
               : "memory");
}
__device__ __forceinline__ void MbarrierArrive(uint64_t* bar) {
  asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(
                   SmemAddress(bar))
               : "memory");
}
// Arrives on `bar` once every cp.async this thread issued so far has landed; counts against
// the arrivals `bar` was initialised with (noinc).
__device__ __forceinline__ void CpAsyncArriveOnMbarrier(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(SmemAddress(bar))
               : "memory");
}
// Blocks until the phase of parity `parity` of `bar` has completed.
__device__ __forceinline__ void MbarrierWait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(SmemAddress(bar)), "r"(parity)
        : "memory");
  } while (done == 0);
}

// ---- Warpgroup register reallocation -----------------------------------------------------------

// Producers give registers back, consumers take them: every warp of the warpgroup calls it.
template <int kRegisters>
__device__ __forceinline__ void WarpgroupReleaseRegisters() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void WarpgroupTakeRegisters() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_SM90_WGMMA_CUH_
