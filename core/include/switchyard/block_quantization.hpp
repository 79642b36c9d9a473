// Block quantization for quantizer plugins: argument checks and the walk over the
// blocks of a matrix (sy_qlayout). Header-only, part of the SDK: in-tree and vendor
// quantizers share one implementation of the block rules.
#ifndef SWITCHYARD_BLOCK_QUANTIZATION_HPP_
#define SWITCHYARD_BLOCK_QUANTIZATION_HPP_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "switchyard/dtype.hpp"
#include "switchyard/plugin_abi.h"
#include "switchyard/qtensor.hpp"
#include "switchyard/tensor_view.hpp"

namespace sy::quant {

// A layout; block edges come from int64 shapes (a per-tensor block is the whole matrix), so
// they are range-checked into the ABI's int32. An empty dimension still gets a block of 1,
// since the ABI requires block edges >= 1.
inline sy_qlayout MakeLayout(DType dtype, int64_t block_rows, int64_t block_cols, bool scales,
                             bool zeros) {
  const int64_t kMax = std::numeric_limits<int32_t>::max();
  if (block_rows > kMax || block_cols > kMax) {
    throw std::invalid_argument("block " + std::to_string(block_rows) + "x" +
                                std::to_string(block_cols) + " exceeds the ABI's int32 range");
  }
  return {sizeof(sy_qlayout),
          static_cast<int32_t>(dtype),
          static_cast<int32_t>(std::max<int64_t>(block_rows, 1)),
          static_cast<int32_t>(std::max<int64_t>(block_cols, 1)),
          scales ? 1 : 0,
          zeros ? 1 : 0};
}

// The unquantized layout: values are the numbers themselves.
inline sy_qlayout PlainLayout(DType dtype) { return MakeLayout(dtype, 1, 1, false, false); }

// A checked input matrix.
struct Matrix {
  const float* data;
  int64_t rows;
  int64_t cols;
};

// Checks an input (f32 [rows, cols], contiguous, on the CPU, all finite). Refusing NaN/Inf
// matters: one NaN or Inf would poison the scale of its whole block.
inline Matrix RequireInput(const sy_tensor& input, const char* what) {
  const TensorView view(input);
  view.RequireCpuContiguous(what, 2, DType::kF32);
  view.RequireFinite(what);
  return {view.data<const float>(), view.dim(0), view.dim(1)};
}

// Checks that `out` was allocated for exactly `expected`. QTensorView::Require checks shapes
// against the layout `out` carries, but not that this is the layout this quantizer would
// write, nor the dtype of the values or where the scales live.
inline void RequireOutput(const sy_qtensor& out, const sy_qlayout& expected, int64_t rows,
                          int64_t cols) {
  QTensorView(out).Require("out", rows, cols);
  const sy_qlayout& got = out.layout;
  if (got.dtype != expected.dtype || got.block_rows != expected.block_rows ||
      got.block_cols != expected.block_cols || got.has_scales != expected.has_scales ||
      got.has_zeros != expected.has_zeros || out.values.dtype != expected.dtype) {
    throw std::invalid_argument(
        "out: allocated as " + std::string(DTypeName(static_cast<DType>(out.values.dtype))) +
        " blocks " + std::to_string(got.block_rows) + "x" + std::to_string(got.block_cols) +
        ", but this quantizer writes " +
        std::string(DTypeName(static_cast<DType>(expected.dtype))) + " blocks " +
        std::to_string(expected.block_rows) + "x" + std::to_string(expected.block_cols) +
        (expected.has_scales ? " with scales" : " without scales") +
        (expected.has_zeros ? " and zero points" : ""));
  }
  if (expected.has_scales)
    TensorView(out.scales).RequireCpuContiguous("out.scales", 2, DType::kF32);
  if (expected.has_zeros) TensorView(out.zeros).RequireCpuContiguous("out.zeros", 2, DType::kU8);
}

// One block of a row-major [rows, cols] matrix: rows [r0, r1), columns [c0, c1), and its
// position in the row-major scale grid.
struct Block {
  int64_t r0, r1, c0, c1, index;
};

template <typename Fn>
void ForEachBlock(const sy_qlayout& layout, int64_t rows, int64_t cols, Fn&& fn) {
  const int64_t grid_rows = ScaleRows(layout, rows);
  const int64_t grid_cols = ScaleCols(layout, cols);
  for (int64_t br = 0; br < grid_rows; ++br) {
    for (int64_t bc = 0; bc < grid_cols; ++bc) {
      const int64_t r0 = br * layout.block_rows, c0 = bc * layout.block_cols;
      fn(Block{r0, std::min(rows, r0 + layout.block_rows), c0,
               std::min(cols, c0 + layout.block_cols), br * grid_cols + bc});
    }
  }
}

// Calls fn(flat_index) for every element of `block` in a matrix with `cols` columns.
template <typename Fn>
void ForEachElement(const Block& block, int64_t cols, Fn&& fn) {
  for (int64_t r = block.r0; r < block.r1; ++r) {
    for (int64_t c = block.c0; c < block.c1; ++c) fn(r * cols + c);
  }
}

inline float BlockAbsMax(const float* m, int64_t cols, const Block& block) {
  float amax = 0.0f;
  ForEachElement(block, cols, [&](int64_t i) { amax = std::max(amax, std::fabs(m[i])); });
  return amax;
}

// A computed scale, or 1 when it is 0: an all-zero block (or one so small that the division
// underflows) then stores zeros that dequantize exactly, and nothing divides by zero.
inline float NonZeroScale(float scale) { return scale > 0.0f ? scale : 1.0f; }

// Symmetric block quantization (fp8, int8): per block scale = amax / qmax and stored value =
// encode(w / scale), both in f32 as a GPU kernel computes them, dividing by the stored scale so
// that multiplying back inverts exactly what was rounded.
template <typename Encode>
void QuantizeSymmetric(const Matrix& in, sy_qtensor& out, float qmax, Encode&& encode) {
  auto* scales = static_cast<float*>(out.scales.data);
  ForEachBlock(out.layout, in.rows, in.cols, [&](const Block& block) {
    const float scale = NonZeroScale(BlockAbsMax(in.data, in.cols, block) / qmax);
    scales[block.index] = scale;
    ForEachElement(block, in.cols, [&](int64_t i) { encode(i, in.data[i] / scale); });
  });
}

// Copies an input into an unscaled f32 `out` (weight-only activations).
inline void CopyPlain(const Matrix& in, sy_qtensor& out) {
  std::copy(in.data, in.data + in.rows * in.cols, static_cast<float*>(out.values.data));
}

}  // namespace sy::quant

#endif  // SWITCHYARD_BLOCK_QUANTIZATION_HPP_
