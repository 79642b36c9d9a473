// Matrix products on the CPU through OpenBLAS.
#ifndef SWITCHYARD_CORE_TENSOR_MATMUL_H_
#define SWITCHYARD_CORE_TENSOR_MATMUL_H_

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// a [M, K] times b [N, K] transposed: [M, N] = a . b^T, the shape of x . W^T for a linear
// layer's weight W [out, in]. Both f32, contiguous, on the CPU.
absl::StatusOr<Tensor> MatMulTransposed(const Tensor& a, const Tensor& b);

// The number of threads OpenBLAS uses; set once for the process.
void SetBlasThreads(int threads);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TENSOR_MATMUL_H_
