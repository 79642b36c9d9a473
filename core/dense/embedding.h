// Token embedding lookup: row token_ids[t] of the table, widened to f32.
#ifndef SWITCHYARD_CORE_DENSE_EMBEDDING_H_
#define SWITCHYARD_CORE_DENSE_EMBEDDING_H_

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// token_ids [T] i32 or i64, table [V, D] f32 or bf16 -> new [T, D] f32. An id outside [0, V) is
// an OutOfRange error naming the first such id and its index.
absl::StatusOr<Tensor> Embed(const Tensor& token_ids, const Tensor& table, int threads = 1);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_EMBEDDING_H_
