#include "core/model/linear.h"

#include "core/base/status.h"
#include "core/tensor/matmul.h"

namespace sy {

absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias) {
  SY_ASSIGN_OR_RETURN(Tensor y, MatMulTransposed(x, w));
  if (bias) {
    float* out = y.data<float>();
    const float* b = bias->data<float>();
    for (int64_t r = 0; r < y.dim(0); ++r) {
      for (int64_t c = 0; c < y.dim(1); ++c) out[r * y.dim(1) + c] += b[c];
    }
  }
  return y;
}

}  // namespace sy
