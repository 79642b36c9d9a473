// The rows expert parallelism moves on the device (core/model's GPU path under launch):
//   sm90_pack_dispatch_rows: each dispatched row is a token's bf16 MoE input followed by its
//     tail (the receiver's local slot ids and routing weights, packed on the host);
//   sm90_add_token_rows: each token adds up the weighted expert sums its rows came back with,
//     in the order the host listed them (rank order), so the result does not depend on timing.
// Both copy 4-byte words: a row is 2H + 8k bytes, a multiple of 4 for any even H.
#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    sm90_pack_dispatch_rows(const uint32_t* x, int64_t x_words, const int32_t* row_token,
                            const uint32_t* tails, int64_t tail_words, int64_t rows,
                            uint32_t* out) {
  const int64_t row_words = x_words + tail_words;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const uint32_t* src = x + row_token[row] * x_words;
    uint32_t* dst = out + row * row_words;
    for (int64_t i = threadIdx.x; i < x_words; i += kThreads) dst[i] = src[i];
    for (int64_t i = threadIdx.x; i < tail_words; i += kThreads)
      dst[x_words + i] = tails[row * tail_words + i];
  }
}

__global__ void __launch_bounds__(kThreads)
    sm90_add_token_rows(const float* rows, int64_t hidden, const int32_t* token_begin,
                        const int32_t* token_rows, int64_t tokens, float* out) {
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    const int32_t begin = token_begin[t], end = token_begin[t + 1];
    for (int64_t c = threadIdx.x; c < hidden; c += kThreads) {
      float sum = out[t * hidden + c];
      for (int32_t i = begin; i < end; ++i) sum += rows[token_rows[i] * hidden + c];
      out[t * hidden + c] = sum;
    }
  }
}

dim3 RowGrid(int64_t rows) {
  return dim3(static_cast<unsigned>(std::min<int64_t>(rows, 16 * MultiprocessorCount())));
}

}  // namespace

std::string LaunchPackDispatchRows(const uint16_t* x, int64_t hidden, const int32_t* row_token,
                                   const uint8_t* tails, int64_t tail_bytes, int64_t rows,
                                   uint8_t* out, void* stream) {
  if (hidden % 2 != 0 || tail_bytes % 4 != 0) {
    return "sm90_pack_dispatch_rows: the hidden size must be even and the tail whole words";
  }
  if (rows == 0) return "";
  return Launch("sm90_pack_dispatch_rows", sm90_pack_dispatch_rows, RowGrid(rows), dim3(kThreads),
                0, stream, false, reinterpret_cast<const uint32_t*>(x), hidden / 2, row_token,
                reinterpret_cast<const uint32_t*>(tails), tail_bytes / 4, rows,
                reinterpret_cast<uint32_t*>(out));
}

std::string LaunchAddTokenRows(const float* rows, int64_t hidden, const int32_t* token_begin,
                               const int32_t* token_rows, int64_t tokens, float* out,
                               void* stream) {
  if (tokens == 0) return "";
  return Launch("sm90_add_token_rows", sm90_add_token_rows, RowGrid(tokens), dim3(kThreads), 0,
                stream, false, rows, hidden, token_begin, token_rows, tokens, out);
}

}  // namespace sy::kernels
