#include "core/tensor/matmul.h"

#include <cblas.h>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {

absl::StatusOr<Tensor> MatMulTransposed(const Tensor& a, const Tensor& b) {
  for (const Tensor* t : {&a, &b}) {
    if (t->ndim() != 2 || t->dtype() != DType::kF32 || !t->device().is_cpu() || !t->is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat("matmul needs contiguous CPU f32 matrices, got ", t->Describe()));
    }
  }
  if (a.dim(1) != b.dim(1)) {
    return absl::InvalidArgumentError(absl::StrCat("matmul inner dimensions differ: ", a.Describe(), " x ", b.Describe(), "^T"));
  }
  const int64_t m = a.dim(0), n = b.dim(0), k = a.dim(1);
  SY_ASSIGN_OR_RETURN(Tensor c, Tensor::Zeros({m, n}, DType::kF32));
  if (m == 0 || n == 0 || k == 0) return c;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a.data<float>(), static_cast<int>(k), b.data<float>(),
              static_cast<int>(k), 0.0f, c.data<float>(), static_cast<int>(n));
  return c;
}

void SetBlasThreads(int threads) { openblas_set_num_threads(threads); }

}  // namespace sy
