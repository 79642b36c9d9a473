// y = x . W^T (+ bias): a linear layer on the CPU in f32, shared by the model's blocks.
#ifndef SWITCHYARD_CORE_MODEL_LINEAR_H_
#define SWITCHYARD_CORE_MODEL_LINEAR_H_

#include <optional>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// x [T, in] f32, w [out, in] f32, bias [out] f32 -> new [T, out] f32.
absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& w,
                              const std::optional<Tensor>& bias = std::nullopt);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_LINEAR_H_
