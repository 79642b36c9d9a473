// Reading a checkpoint's weights as the f32 tensors the CPU model computes with. f32 is used in
// place; bf16 and f16 are converted; fp8 e4m3 (DeepSeek's block-scaled checkpoints) is
// dequantized on load with its companion "<name>_scale_inv" (f32 or bf16, one per
// quantization_config.weight_block_size block, default 128 x 128): w = q * scale_inv.
// Errors name the directory and tensor.
#ifndef SWITCHYARD_CORE_MODEL_WEIGHT_LOADER_H_
#define SWITCHYARD_CORE_MODEL_WEIGHT_LOADER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/model/checkpoint.h"
#include "core/tensor/tensor.h"

namespace sy {

// The tensor `name` of `shape` as f32.
absl::StatusOr<Tensor> LoadF32(const Checkpoint& ckpt, const std::string& name, const Shape& shape);

// LoadF32 when `present`, else nullopt.
absl::StatusOr<std::optional<Tensor>> LoadOptional(const Checkpoint& ckpt, bool present,
                                                   const std::string& name, const Shape& shape);

// An fp8 e4m3 matrix [rows, cols] times its block scales [ceil(rows / block_rows),
// ceil(cols / block_cols)] (f32 or bf16) -> f32. `name` names the weight in errors.
absl::StatusOr<Tensor> DequantizeFp8Blocks(const Tensor& weight, const Tensor& scale_inv,
                                           int64_t block_rows, int64_t block_cols,
                                           const std::string& name);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_WEIGHT_LOADER_H_
