// Seeded random tensors. Element i depends only on (seed, i), so results are identical for
// any thread count and on every machine.
#ifndef SWITCHYARD_CORE_TENSOR_TENSOR_RANDOM_H_
#define SWITCHYARD_CORE_TENSOR_TENSOR_RANDOM_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// Normal(mean, stddev) samples, converted to `dtype`, on the CPU.
absl::StatusOr<Tensor> RandomNormal(const Shape& shape, uint64_t seed, float mean = 0.0f,
                                    float stddev = 1.0f, DType dtype = DType::kF32);
// Uniform samples in [low, high), converted to `dtype`, on the CPU.
absl::StatusOr<Tensor> RandomUniform(const Shape& shape, uint64_t seed, float low = 0.0f,
                                     float high = 1.0f, DType dtype = DType::kF32);

// The underlying counter-based generator: 53 uniform bits of (seed, counter) in [0, 1).
double UniformAt(uint64_t seed, uint64_t counter);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TENSOR_TENSOR_RANDOM_H_
