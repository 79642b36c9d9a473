// RMSNorm as transformers' LlamaRMSNorm / Qwen3RMSNorm compute it: in f32,
// y = x * rsqrt(mean(x^2) + eps) * weight. RmsNormHeads normalizes each head_dim-wide slice of a
// row on its own, which is Qwen3's q/k norm (one weight vector shared by all heads).
#ifndef SWITCHYARD_CORE_DENSE_RMS_NORM_H_
#define SWITCHYARD_CORE_DENSE_RMS_NORM_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// x [T, D] f32, weight [D] f32 -> new [T, D] f32. Rows are split over `threads`.
absl::StatusOr<Tensor> RmsNorm(const Tensor& x, const Tensor& weight, double eps, int threads = 1);

// x [T, heads * head_dim] f32, weight [head_dim] f32 -> new [T, heads * head_dim] f32.
absl::StatusOr<Tensor> RmsNormHeads(const Tensor& x, const Tensor& weight, int64_t heads,
                                    double eps, int threads = 1);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_RMS_NORM_H_
