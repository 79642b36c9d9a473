// Row-wise memory-bound kernels of the dense layer: embedding gather, bias add, KV cache write
// and row gather. One CTA per row with the threads striding over its columns, so
// every access is coalesced and no index needs a 64-bit division; rows go on grid.x (2^31 - 1 of
// them). Each of these moves a few KiB to a few MiB a step, far below the GEMMs around them.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    sm90_embedding_gather_bf16(const __nv_bfloat16* table, int64_t vocab, int64_t width,
                               const int32_t* ids, float* out) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  const bool valid = id >= 0 && id < vocab;
  const __nv_bfloat16* src = table + (valid ? id : 0) * width;
  float* dst = out + t * width;
  for (int64_t c = threadIdx.x; c < width; c += kThreads)
    dst[c] = valid ? __bfloat162float(src[c]) : 0.0f;
}

__global__ void __launch_bounds__(kThreads)
    sm90_add_bias(float* x, int64_t row_stride, int64_t width, const float* bias) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  float* row = x + static_cast<int64_t>(blockIdx.x) * row_stride;
  for (int64_t c = threadIdx.x; c < width; c += kThreads) row[c] += bias[c];
}

__global__ void __launch_bounds__(kThreads)
    sm90_kv_cache_write_bf16(const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                             int64_t width, const int32_t* slots, __nv_bfloat16* k_cache,
                             __nv_bfloat16* v_cache) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const int64_t t = blockIdx.x;
  const int32_t slot = slots[t];
  if (slot < 0) return;  // a padding row owns no slot
  const float* k_row = k + t * k_stride;
  __nv_bfloat16* k_dst = k_cache + slot * width;
  for (int64_t c = threadIdx.x; c < width; c += kThreads) k_dst[c] = __float2bfloat16_rn(k_row[c]);
  if (v_cache == nullptr) return;  // a keys-only (latent) cache
  const float* v_row = v + t * v_stride;
  __nv_bfloat16* v_dst = v_cache + slot * width;
  for (int64_t c = threadIdx.x; c < width; c += kThreads) v_dst[c] = __float2bfloat16_rn(v_row[c]);
}

__global__ void __launch_bounds__(kThreads)
    sm90_gather_rows_f32(const float* x, int64_t width, const int32_t* rows, float* out) {
  WaitForPredecessor();  // PDL: launched before the previous kernel finished
  AllowSuccessor();
  const int64_t i = blockIdx.x;
  const float* src = x + static_cast<int64_t>(rows[i]) * width;
  float* dst = out + i * width;
  for (int64_t c = threadIdx.x; c < width; c += kThreads) dst[c] = src[c];
}

dim3 RowGrid(int64_t rows) { return dim3(static_cast<unsigned>(rows)); }

std::string TooManyRows(const char* what, int64_t rows) {
  return std::string(what) + ": " + std::to_string(rows) + " rows is more than one grid holds";
}

}  // namespace

std::string LaunchEmbeddingGatherBF16(const uint16_t* table, int64_t vocab, int64_t width,
                                      const int32_t* ids, int64_t tokens, float* out,
                                      void* stream) {
  if (tokens == 0 || width == 0) return "";
  if (tokens > INT_MAX) return TooManyRows("sm90_embedding_gather_bf16", tokens);
  return Launch("sm90_embedding_gather_bf16", sm90_embedding_gather_bf16, RowGrid(tokens),
                dim3(kThreads), 0, stream, false, reinterpret_cast<const __nv_bfloat16*>(table),
                vocab, width, ids, out);
}

std::string LaunchAddBias(float* x, int64_t row_stride, int64_t rows, int64_t width,
                          const float* bias, void* stream) {
  if (rows == 0 || width == 0) return "";
  if (rows > INT_MAX) return TooManyRows("sm90_add_bias", rows);
  return Launch("sm90_add_bias", sm90_add_bias, RowGrid(rows), dim3(kThreads), 0, stream, true, x,
                row_stride, width, bias);
}

std::string LaunchKvCacheWriteBF16(const float* k, int64_t k_stride, const float* v,
                                   int64_t v_stride, int64_t tokens, int64_t width,
                                   const int32_t* slots, uint16_t* k_cache, uint16_t* v_cache,
                                   void* stream) {
  if (tokens == 0 || width == 0) return "";
  if (tokens > INT_MAX) return TooManyRows("sm90_kv_cache_write_bf16", tokens);
  return Launch("sm90_kv_cache_write_bf16", sm90_kv_cache_write_bf16, RowGrid(tokens),
                dim3(kThreads), 0, stream, true, k, k_stride, v, v_stride, width, slots,
                reinterpret_cast<__nv_bfloat16*>(k_cache),
                reinterpret_cast<__nv_bfloat16*>(v_cache));
}

std::string LaunchGatherRowsF32(const float* x, int64_t width, const int32_t* rows, int64_t n,
                                float* out, void* stream) {
  if (n == 0 || width == 0) return "";
  if (n > INT_MAX) return TooManyRows("sm90_gather_rows_f32", n);
  return Launch("sm90_gather_rows_f32", sm90_gather_rows_f32, RowGrid(n), dim3(kThreads), 0, stream,
                true, x, width, rows, out);
}

}  // namespace sy::kernels
