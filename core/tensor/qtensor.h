// QTensor: an owning block-quantized matrix (values, scales, zero points), the host-side
// counterpart of sy_qtensor.
#ifndef SWITCHYARD_CORE_TENSOR_QTENSOR_H_
#define SWITCHYARD_CORE_TENSOR_QTENSOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"
#include "switchyard/plugin_abi.h"

namespace sy {

struct QTensor {
  sy_qlayout layout{};
  Tensor values;  // [rows, cols]
  Tensor scales;  // f32 [scale rows, scale cols]; undefined without scales
  Tensor zeros;   // u8, the shape of scales; undefined without zero points

  // Uninitialised storage for a [rows, cols] matrix in `layout` (validated first).
  static absl::StatusOr<QTensor> Allocate(const sy_qlayout& layout, int64_t rows, int64_t cols,
                                          Device device = Device::Cpu());
  // A full-precision matrix viewed as a QTensor without scales (shares memory).
  static absl::StatusOr<QTensor> Unquantized(const Tensor& values);

  int64_t rows() const { return values.dim(0); }
  int64_t cols() const { return values.dim(1); }
  // Bytes of values, scales and zero points together.
  int64_t nbytes() const;
  // f32 [rows, cols] on the CPU.
  absl::StatusOr<Tensor> Dequantize() const;
  // A borrowed C view, valid while this QTensor lives.
  sy_qtensor ToC() const;
  // "fp8_e4m3 blocks 128x128 with scales" and the like.
  std::string DescribeLayout() const;
};

// Checks that `layout` is self-consistent and can store a [rows, cols] matrix.
absl::Status ValidateLayout(const sy_qlayout& layout, int64_t rows, int64_t cols);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TENSOR_QTENSOR_H_
