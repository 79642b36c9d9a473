// Reading block-quantized matrices (sy_qtensor) in plugin and core code.
//
// Element (r, c) = (values[r, c] - zeros[r / br, c / bc]) * scales[r / br, c / bc], with the
// block shape (br, bc) from the layout (see sy_qlayout in plugin_abi.h).
#ifndef SWITCHYARD_QTENSOR_HPP_
#define SWITCHYARD_QTENSOR_HPP_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "switchyard/dtype.hpp"
#include "switchyard/plugin_abi.h"
#include "switchyard/tensor_view.hpp"

namespace sy {

// Rows and columns of the scale grid for a [rows, cols] matrix in `layout`.
inline int64_t ScaleRows(const sy_qlayout& layout, int64_t rows) {
  return (rows + layout.block_rows - 1) / layout.block_rows;
}
inline int64_t ScaleCols(const sy_qlayout& layout, int64_t cols) {
  return (cols + layout.block_cols - 1) / layout.block_cols;
}

// Reads one stored element as a number (before scaling).
inline float LoadStored(const void* values, DType dtype, int64_t index) {
  const auto* bytes = static_cast<const uint8_t*>(values);
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(values)[index];
    case DType::kBF16:
      return BF16ToF32(static_cast<const uint16_t*>(values)[index]);
    case DType::kF16:
      return F16ToF32(static_cast<const uint16_t*>(values)[index]);
    case DType::kFP8E4M3:
      return FP8E4M3ToF32(bytes[index]);
    case DType::kI8:
      return static_cast<float>(static_cast<int8_t>(bytes[index]));
    case DType::kU4:
      return static_cast<float>(GetNibble(bytes, index));
    case DType::kI4:
      return static_cast<float>(SignExtendNibble(GetNibble(bytes, index)));
    default:
      throw std::invalid_argument("unsupported stored dtype " + std::string(DTypeName(dtype)));
  }
}

class QTensorView {
 public:
  explicit QTensorView(const sy_qtensor& q) : q_(&q) {}

  int64_t rows() const { return q_->values.shape[0]; }
  int64_t cols() const { return q_->values.shape[1]; }
  DType dtype() const { return static_cast<DType>(q_->layout.dtype); }
  const sy_qlayout& layout() const { return q_->layout; }

  // Throws std::invalid_argument unless this is a well-formed CPU matrix of `rows` x `cols`.
  void Require(const char* what, int64_t rows_expected, int64_t cols_expected) const {
    const sy_qlayout& l = q_->layout;
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument(std::string(what) + ": " + why);
    };
    if (q_->values.ndim != 2 || rows() != rows_expected || cols() != cols_expected) {
      fail("expected [" + std::to_string(rows_expected) + ", " + std::to_string(cols_expected) +
           "], got " + TensorView(q_->values).Describe());
    }
    if (q_->values.data == nullptr) fail("values have no data");
    if (q_->values.dtype != l.dtype) {
      fail(std::string("values are ") + DTypeName(static_cast<DType>(q_->values.dtype)) +
           ", the layout says " + DTypeName(dtype()));
    }
    if (q_->values.device.type != SY_DEVICE_CPU) fail("not on the CPU");
    for (const sy_tensor* t : {&q_->scales, &q_->zeros}) {
      if (t->data != nullptr && !(TensorView(*t).on_cpu() && TensorView(*t).is_contiguous())) {
        fail("scales and zero points must be contiguous on the CPU");
      }
    }
    if (l.block_rows < 1 || l.block_cols < 1) fail("block shape must be positive");
    if (!TensorView(q_->values).is_contiguous()) fail("values are not contiguous");
    if (l.has_scales && (q_->scales.data == nullptr || q_->scales.dtype != SY_DTYPE_F32 ||
                         q_->scales.ndim != 2 || q_->scales.shape[0] != ScaleRows(l, rows()) ||
                         q_->scales.shape[1] != ScaleCols(l, cols()))) {
      fail("scales must be f32 [" + std::to_string(ScaleRows(l, rows())) + ", " +
           std::to_string(ScaleCols(l, cols())) + "]");
    }
    if (l.has_zeros &&
        (!l.has_scales || q_->zeros.data == nullptr || q_->zeros.dtype != SY_DTYPE_U8 ||
         q_->zeros.ndim != 2 || q_->zeros.shape[0] != q_->scales.shape[0] ||
         q_->zeros.shape[1] != q_->scales.shape[1])) {
      fail("zero points must be u8 in the shape of the scales");
    }
  }

  // Writes row r, dequantized to f32, into out[0, cols).
  void DequantizeRow(int64_t r, float* out) const {
    const sy_qlayout& l = q_->layout;
    const int64_t n = cols();
    LoadRow(r * n, n, out);
    if (!l.has_scales) return;
    const int64_t scale_cols = ScaleCols(l, n);
    const float* scales =
        static_cast<const float*>(q_->scales.data) + (r / l.block_rows) * scale_cols;
    const uint8_t* zeros =
        l.has_zeros ? static_cast<const uint8_t*>(q_->zeros.data) + (r / l.block_rows) * scale_cols
                    : nullptr;
    for (int64_t block = 0; block < scale_cols; ++block) {
      const int64_t begin = block * l.block_cols, end = std::min(n, begin + l.block_cols);
      const float zero = zeros ? static_cast<float>(zeros[block]) : 0.0f, scale = scales[block];
      for (int64_t c = begin; c < end; ++c) out[c] = (out[c] - zero) * scale;
    }
  }

 private:
  // The stored numbers of elements [first, first + n), before scaling, one loop per format.
  void LoadRow(int64_t first, int64_t n, float* out) const {
    const void* v = q_->values.data;
    const auto* bytes = static_cast<const uint8_t*>(v);
    switch (dtype()) {
      case DType::kF32:
        std::copy_n(static_cast<const float*>(v) + first, n, out);
        return;
      case DType::kI8:
        for (int64_t c = 0; c < n; ++c)
          out[c] = static_cast<float>(static_cast<int8_t>(bytes[first + c]));
        return;
      case DType::kBF16: {
        const auto* h = static_cast<const uint16_t*>(v) + first;
        for (int64_t c = 0; c < n; ++c) out[c] = BF16ToF32(h[c]);
        return;
      }
      case DType::kU4:
        if (first % 2 == 0 && n % 2 == 0) {  // whole bytes: two nibbles per load
          const uint8_t* b = bytes + first / 2;
          for (int64_t c = 0; c < n / 2; ++c) {
            out[2 * c] = static_cast<float>(b[c] & 0x0f);
            out[2 * c + 1] = static_cast<float>(b[c] >> 4);
          }
          return;
        }
        for (int64_t c = 0; c < n; ++c) out[c] = static_cast<float>(GetNibble(bytes, first + c));
        return;
      case DType::kFP8E4M3:
        // Branch-free, so it vectorizes: the 7 magnitude bits shifted into an f32's exponent
        // and mantissa fields, times 2^(127 - 7), give every normal and subnormal e4m3 value
        // exactly. The NaN code 0x7f would read as 480; quantizers never store it.
        for (int64_t c = 0; c < n; ++c) {
          const uint32_t b = bytes[first + c];
          const float magnitude = std::bit_cast<float>((b & 0x7fu) << 20) * 0x1p120f;
          out[c] = std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) | ((b & 0x80u) << 24));
        }
        return;
      default:
        for (int64_t c = 0; c < n; ++c) out[c] = LoadStored(v, dtype(), first + c);
    }
  }

  const sy_qtensor* q_;
};

}  // namespace sy

#endif  // SWITCHYARD_QTENSOR_HPP_
