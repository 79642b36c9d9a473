#include "core/dense/check.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace sy {

absl::Status CheckCpuTensor(const Tensor& t, absl::string_view what, int ndim,
                            std::initializer_list<DType> dtypes) {
  const bool dtype_ok = std::find(dtypes.begin(), dtypes.end(), t.dtype()) != dtypes.end();
  if (t.defined() && dtype_ok && t.ndim() == ndim && t.is_contiguous() && t.device().is_cpu()) {
    return absl::OkStatus();
  }
  std::string wanted;
  for (DType d : dtypes) absl::StrAppend(&wanted, wanted.empty() ? "" : " or ", DTypeName(d));
  return absl::InvalidArgumentError(absl::StrCat(what, " must be a contiguous ", ndim,
                                                 "-d CPU tensor of ", wanted, ", got ",
                                                 t.defined() ? t.Describe() : "an empty tensor"));
}

}  // namespace sy
