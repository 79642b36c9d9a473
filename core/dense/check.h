// Argument checks shared by the dense CPU ops, so every op words a bad tensor the same way.
#ifndef SWITCHYARD_CORE_DENSE_CHECK_H_
#define SWITCHYARD_CORE_DENSE_CHECK_H_

#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/tensor/tensor.h"

namespace sy {

// OK when `t` is a contiguous CPU tensor of one of `dtypes` with `ndim` dimensions; otherwise an
// InvalidArgument error naming `what` ("RmsNorm x") and describing `t`.
absl::Status CheckCpuTensor(const Tensor& t, absl::string_view what, int ndim,
                            std::initializer_list<DType> dtypes);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_CHECK_H_
