// The rows expert parallelism moves on the device (core/model's GPU path under launch):
//   sm90_pack_dispatch_rows: each dispatched row is a token's payload (its bf16 MoE input, or
//     that input encoded as fp8) followed by its tail (the receiver's local slot ids and routing
//     weights, packed on the host);
//   sm90_encode_dispatch_fp8 / sm90_decode_dispatch_fp8: a payload row as fp8 (--dispatch-dtype
//     fp8): e4m3 [H] then one f32 scale per 128 values, the host's layout and rounding
//     (core/moe/expert_parallel.h), and back to the bf16 the MoE kernels read;
//   sm90_add_token_rows: each token adds up the weighted expert sums its rows came back with,
//     in the order the host listed them (rank order), so the result does not depend on timing.
// Rows are copied as 4-byte words: payloads and tails are whole words.
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

__global__ void __launch_bounds__(kThreads)
    sm90_encode_dispatch_fp8(const __nv_bfloat16* x, int64_t rows, int64_t hidden, uint8_t* out,
                             int64_t out_pitch) {
  Fp8GroupSlice s;
  if (!Fp8GroupSliceOf(rows, static_cast<int>((hidden + kFp8Group - 1) / kFp8Group), &s)) return;
  const int64_t column = static_cast<int64_t>(s.group) * kFp8Group + 8 * s.lane;
  const bool mine = column < hidden;  // the last group may be short (hidden % 8 == 0)
  float2 v[4] = {};
  const float scale =
      Fp8GroupScale(mine ? LoadBf16x8(x + s.row * hidden + column, v) : 0.0f, s.half_warp);
  uint8_t* row = out + s.row * out_pitch;
  if (mine) {  // two words: a row's pitch is only a multiple of 4
    uint32_t* codes = reinterpret_cast<uint32_t*>(row + column);
    codes[0] = QuantizeFp8Pair(v[0], scale) | QuantizeFp8Pair(v[1], scale) << 16;
    codes[1] = QuantizeFp8Pair(v[2], scale) | QuantizeFp8Pair(v[3], scale) << 16;
  }
  if (s.lane == 0) reinterpret_cast<float*>(row + hidden)[s.group] = scale;
}

// Rows whose ids (when given) are all -1 came for another rank: skipped.
__global__ void __launch_bounds__(kThreads)
    sm90_decode_dispatch_fp8(const uint8_t* in, int64_t in_pitch, int64_t rows, int64_t hidden,
                             const int32_t* ids, int top_k, __nv_bfloat16* x) {
  Fp8GroupSlice s;
  if (!Fp8GroupSliceOf(rows, static_cast<int>((hidden + kFp8Group - 1) / kFp8Group), &s)) return;
  if (ids != nullptr) {
    bool here = false;
    for (int j = s.lane; j < top_k; j += kFp8LanesPerGroup) here |= ids[s.row * top_k + j] >= 0;
    if (__any_sync(s.half_warp, here) == 0) return;
  }
  const int64_t column = static_cast<int64_t>(s.group) * kFp8Group + 8 * s.lane;
  if (column >= hidden) return;
  const uint8_t* row = in + s.row * in_pitch;
  const float scale = reinterpret_cast<const float*>(row + hidden)[s.group];
  const uint32_t* codes = reinterpret_cast<const uint32_t*>(row + column);
  *reinterpret_cast<uint4*>(x + s.row * hidden + column) =
      DequantizeFp8x8(codes[0], codes[1], scale);
}

dim3 RowGrid(int64_t rows) {
  return dim3(static_cast<unsigned>(std::min<int64_t>(rows, 16 * MultiprocessorCount())));
}

}  // namespace

std::string LaunchPackDispatchRows(const void* payloads, int64_t payload_bytes,
                                   const int32_t* row_token, const uint8_t* tails,
                                   int64_t tail_bytes, int64_t rows, uint8_t* out, void* stream) {
  if (payload_bytes % 4 != 0 || tail_bytes % 4 != 0) {
    return "sm90_pack_dispatch_rows: payloads and tails must be whole 4-byte words";
  }
  if (rows == 0) return "";
  return Launch("sm90_pack_dispatch_rows", sm90_pack_dispatch_rows, RowGrid(rows), dim3(kThreads),
                0, stream, false, static_cast<const uint32_t*>(payloads), payload_bytes / 4,
                row_token, reinterpret_cast<const uint32_t*>(tails), tail_bytes / 4, rows,
                reinterpret_cast<uint32_t*>(out));
}

// A grid of one half-warp per (row, fp8 group).
dim3 Fp8SliceGrid(int64_t rows, int64_t hidden) {
  const int64_t threads = rows * ((hidden + kFp8Group - 1) / kFp8Group) * kFp8LanesPerGroup;
  return dim3(static_cast<unsigned>((threads + kThreads - 1) / kThreads));
}

std::string CheckFp8Payload(int64_t hidden, int64_t pitch) {
  if (hidden % 8 != 0 || pitch < DispatchFp8PayloadBytes(hidden) || pitch % 4 != 0) {
    return "fp8 dispatch payload: hidden " + std::to_string(hidden) + " (a multiple of 8), pitch " +
           std::to_string(pitch) + " (whole words, at least the payload)";
  }
  return "";
}

std::string LaunchEncodeDispatchFp8(const uint16_t* x, int64_t rows, int64_t hidden, uint8_t* out,
                                    int64_t out_pitch, void* stream) {
  if (std::string err = CheckFp8Payload(hidden, out_pitch); !err.empty()) return err;
  if (rows == 0) return "";
  return Launch("sm90_encode_dispatch_fp8", sm90_encode_dispatch_fp8, Fp8SliceGrid(rows, hidden),
                dim3(kThreads), 0, stream, false, reinterpret_cast<const __nv_bfloat16*>(x), rows,
                hidden, out, out_pitch);
}

std::string LaunchDecodeDispatchFp8(const uint8_t* in, int64_t in_pitch, int64_t rows,
                                    int64_t hidden, const int32_t* ids, int32_t top_k, uint16_t* x,
                                    void* stream) {
  if (std::string err = CheckFp8Payload(hidden, in_pitch); !err.empty()) return err;
  if (rows == 0) return "";
  return Launch("sm90_decode_dispatch_fp8", sm90_decode_dispatch_fp8, Fp8SliceGrid(rows, hidden),
                dim3(kThreads), 0, stream, false, in, in_pitch, rows, hidden, ids, top_k,
                reinterpret_cast<__nv_bfloat16*>(x));
}

std::string LaunchAddTokenRows(const float* rows, int64_t hidden, const int32_t* token_begin,
                               const int32_t* token_rows, int64_t tokens, float* out,
                               void* stream) {
  if (tokens == 0) return "";
  return Launch("sm90_add_token_rows", sm90_add_token_rows, RowGrid(tokens), dim3(kThreads), 0,
                stream, false, rows, hidden, token_begin, token_rows, tokens, out);
}

}  // namespace sy::kernels
