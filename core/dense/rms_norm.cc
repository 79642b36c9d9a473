#include "core/dense/rms_norm.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"
#include "switchyard/parallel.hpp"

namespace sy {
namespace {

// Normalizes `rows` contiguous vectors of `width` floats. The sum of squares is accumulated in
// double so long rows lose nothing; the mean is then rounded to f32 as transformers keeps it.
absl::StatusOr<Tensor> NormalizeRows(const Tensor& x, const Tensor& weight, int64_t rows,
                                     int64_t width, double eps, int threads) {
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(x.shape(), DType::kF32));
  const float* in = x.data<float>();
  const float* w = weight.data<float>();
  float* y = out.data<float>();
  ParallelFor(threads, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * width;
      float* yr = y + r * width;
      double sum = 0;
      for (int64_t i = 0; i < width; ++i) sum += static_cast<double>(xr[i]) * xr[i];
      const float variance = static_cast<float>(sum / static_cast<double>(width));
      const float inv = 1.0f / std::sqrt(variance + static_cast<float>(eps));
      for (int64_t i = 0; i < width; ++i) yr[i] = w[i] * (xr[i] * inv);
    }
  });
  return out;
}

}  // namespace

absl::StatusOr<Tensor> RmsNorm(const Tensor& x, const Tensor& weight, double eps, int threads) {
  SY_RETURN_IF_ERROR(CheckCpuTensor(x, "RmsNorm x", 2, {DType::kF32}));
  SY_RETURN_IF_ERROR(CheckCpuTensor(weight, "RmsNorm weight", 1, {DType::kF32}));
  if (weight.dim(0) != x.dim(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RmsNorm: weight ", weight.Describe(), " does not match x ", x.Describe()));
  }
  return NormalizeRows(x, weight, x.dim(0), x.dim(1), eps, threads);
}

absl::StatusOr<Tensor> RmsNormHeads(const Tensor& x, const Tensor& weight, int64_t heads,
                                    double eps, int threads) {
  SY_RETURN_IF_ERROR(CheckCpuTensor(x, "RmsNormHeads x", 2, {DType::kF32}));
  SY_RETURN_IF_ERROR(CheckCpuTensor(weight, "RmsNormHeads weight", 1, {DType::kF32}));
  if (heads <= 0 || x.dim(1) != heads * weight.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("RmsNormHeads: x ", x.Describe(), " is not ",
                                                   heads, " heads of weight ", weight.Describe()));
  }
  return NormalizeRows(x, weight, x.dim(0) * heads, weight.dim(0), eps, threads);
}

}  // namespace sy
