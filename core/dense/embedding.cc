#include "core/dense/embedding.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"
#include "switchyard/parallel.hpp"

namespace sy {

absl::StatusOr<Tensor> Embed(const Tensor& token_ids, const Tensor& table, int threads) {
  SY_RETURN_IF_ERROR(
      CheckCpuTensor(token_ids, "Embedding token_ids", 1, {DType::kI32, DType::kI64}));
  SY_RETURN_IF_ERROR(CheckCpuTensor(table, "Embedding table", 2, {DType::kF32, DType::kBF16}));
  const int64_t tokens = token_ids.dim(0);
  const int64_t vocab = table.dim(0);
  const int64_t width = table.dim(1);
  // Ids are checked before any copying, so an error leaves no half-filled result behind.
  std::vector<int64_t> ids(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    ids[t] = token_ids.dtype() == DType::kI64 ? token_ids.data<int64_t>()[t]
                                              : token_ids.data<int32_t>()[t];
    if (ids[t] < 0 || ids[t] >= vocab) {
      return absl::OutOfRangeError(absl::StrCat("Embedding: token id ", ids[t], " at index ", t,
                                                " is out of range for table ", table.Describe()));
    }
  }
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({tokens, width}, DType::kF32));
  float* y = out.data<float>();
  const bool bf16 = table.dtype() == DType::kBF16;
  ParallelFor(threads, tokens, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = y + t * width;
      if (bf16) {
        const uint16_t* src = table.data<uint16_t>() + ids[t] * width;
        for (int64_t d = 0; d < width; ++d) row[d] = BF16ToF32(src[d]);
      } else {
        std::memcpy(row, table.data<float>() + ids[t] * width, width * sizeof(float));
      }
    }
  });
  return out;
}

}  // namespace sy
