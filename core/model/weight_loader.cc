#include "core/model/weight_loader.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/tensor/tensor_convert.h"
#include "switchyard/dtype.hpp"

namespace sy {

absl::StatusOr<Tensor> DequantizeFp8Blocks(const Tensor& weight, const Tensor& scale_inv,
                                           int64_t block_rows, int64_t block_cols,
                                           const std::string& name) {
  if (weight.ndim() != 2 || weight.dtype() != DType::kFP8E4M3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': expected a 2-D fp8_e4m3 matrix, got ", weight.Describe()));
  }
  const int64_t rows = weight.dim(0), cols = weight.dim(1);
  const Shape scale_shape = {(rows + block_rows - 1) / block_rows,
                             (cols + block_cols - 1) / block_cols};
  if (scale_inv.shape() != scale_shape ||
      (scale_inv.dtype() != DType::kF32 && scale_inv.dtype() != DType::kBF16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "_scale_inv' is ", scale_inv.Describe(), "; the ",
                     block_rows, "x", block_cols, " blocks of ", ShapeToString(weight.shape()),
                     " need f32 ", ShapeToString(scale_shape)));
  }
  SY_ASSIGN_OR_RETURN(Tensor scales, ConvertDType(scale_inv, DType::kF32));
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({rows, cols}, DType::kF32));
  const uint8_t* q = weight.data<uint8_t>();
  const float* s = scales.data<float>();
  float* o = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* block_scales = s + (r / block_rows) * scale_shape[1];
    for (int64_t c = 0; c < cols; ++c) {
      o[r * cols + c] = FP8E4M3ToF32(q[r * cols + c]) * block_scales[c / block_cols];
    }
  }
  return out;
}

absl::StatusOr<Tensor> LoadF32(const Checkpoint& ckpt, const std::string& name,
                               const Shape& shape) {
  SY_ASSIGN_OR_RETURN(Tensor t, ckpt.Get(name));
  if (t.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": tensor '", name, "' has shape ",
                                                   ShapeToString(t.shape()),
                                                   ", the config implies ", ShapeToString(shape)));
  }
  if (t.dtype() == DType::kF32) return t;
  if (t.dtype() == DType::kFP8E4M3) {
    const std::string scale_name = name + "_scale_inv";
    if (!ckpt.Has(scale_name)) {
      return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": tensor '", name,
                                                     "' is fp8_e4m3 but '", scale_name,
                                                     "' is missing (block scales are required)"));
    }
    SY_ASSIGN_OR_RETURN(Tensor scale_inv, ckpt.Get(scale_name));
    const std::optional<WeightQuantization>& q = ckpt.config().quantization;
    const int64_t block_rows = q ? q->block_rows : 128, block_cols = q ? q->block_cols : 128;
    absl::StatusOr<Tensor> w = DequantizeFp8Blocks(t, scale_inv, block_rows, block_cols, name);
    if (!w.ok())
      return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": ", w.status().message()));
    return w;
  }
  if (t.dtype() != DType::kBF16 && t.dtype() != DType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": tensor '", name, "' is ",
                                                   DTypeName(t.dtype()),
                                                   "; expected f32, bf16, f16 or fp8_e4m3"));
  }
  return ConvertDType(t, DType::kF32);
}

absl::StatusOr<std::optional<Tensor>> LoadOptional(const Checkpoint& ckpt, bool present,
                                                   const std::string& name, const Shape& shape) {
  if (!present) return std::optional<Tensor>();
  SY_ASSIGN_OR_RETURN(Tensor t, LoadF32(ckpt, name, shape));
  return std::optional<Tensor>(std::move(t));
}

}  // namespace sy
