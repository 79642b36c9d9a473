// Element access and dtype conversion of whole tensors on the CPU.
#ifndef SWITCHYARD_CORE_TENSOR_TENSOR_CONVERT_H_
#define SWITCHYARD_CORE_TENSOR_TENSOR_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "switchyard/dtype.hpp"

namespace sy {

class Tensor;

// Reads element `index` (in elements from `base`) of a `dtype` array. Exact for every dtype
// except i64 beyond 2^53.
double ReadElement(const void* base, DType dtype, int64_t index);
// Writes `value` converted to `dtype` (rounding to nearest even, saturating; dtype.hpp).
void WriteElement(void* base, DType dtype, int64_t index, double value);
inline float ElementToF32(const void* base, DType dtype, int64_t index) {
  return static_cast<float>(ReadElement(base, dtype, index));
}

// A new contiguous CPU tensor holding `src` converted to `dtype`. `src` must be on the CPU.
absl::StatusOr<Tensor> ConvertDType(const Tensor& src, DType dtype);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TENSOR_TENSOR_CONVERT_H_
