#include "core/tensor/qtensor.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "switchyard/qtensor.hpp"

namespace sy {

absl::Status ValidateLayout(const sy_qlayout& l, int64_t rows, int64_t cols) {
  const DType dtype = static_cast<DType>(l.dtype);
  if (DTypeBits(dtype) == 0) return absl::InvalidArgumentError(absl::StrCat("layout has invalid dtype ", l.dtype));
  if (l.block_rows < 1 || l.block_cols < 1) {
    return absl::InvalidArgumentError(absl::StrCat("layout block shape ", l.block_rows, "x", l.block_cols, " is not positive"));
  }
  const bool full_precision = dtype == DType::kF32 || dtype == DType::kBF16 || dtype == DType::kF16;
  if (!l.has_scales && !full_precision) {
    return absl::InvalidArgumentError(absl::StrCat(DTypeName(dtype), " values need scales"));
  }
  if (l.has_zeros && !l.has_scales) return absl::InvalidArgumentError("zero points need scales");
  if (IsPacked(dtype) && cols % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(DTypeName(dtype), " needs an even column count, got ", cols));
  }
  if (rows < 0 || cols < 0) return absl::InvalidArgumentError("negative matrix shape");
  return absl::OkStatus();
}

absl::StatusOr<QTensor> QTensor::Allocate(const sy_qlayout& layout, int64_t rows, int64_t cols, Device device) {
  SY_RETURN_IF_ERROR(ValidateLayout(layout, rows, cols));
  QTensor q;
  q.layout = layout;
  q.layout.struct_size = sizeof(sy_qlayout);
  SY_ASSIGN_OR_RETURN(q.values, Tensor::Empty({rows, cols}, static_cast<DType>(layout.dtype), device));
  const Shape scale_shape = {ScaleRows(layout, rows), ScaleCols(layout, cols)};
  if (layout.has_scales) {
    SY_ASSIGN_OR_RETURN(q.scales, Tensor::Empty(scale_shape, DType::kF32, device));
  }
  if (layout.has_zeros) {
    SY_ASSIGN_OR_RETURN(q.zeros, Tensor::Empty(scale_shape, DType::kU8, device));
  }
  return q;
}

absl::StatusOr<QTensor> QTensor::Unquantized(const Tensor& values) {
  if (values.ndim() != 2) return absl::InvalidArgumentError(absl::StrCat("a matrix is needed, got ", values.Describe()));
  QTensor q;
  q.layout = {sizeof(sy_qlayout), static_cast<int32_t>(values.dtype()), 1, 1, 0, 0};
  SY_RETURN_IF_ERROR(ValidateLayout(q.layout, values.dim(0), values.dim(1)));
  q.values = values;
  return q;
}

int64_t QTensor::nbytes() const {
  return values.nbytes() + (scales.defined() ? scales.nbytes() : 0) + (zeros.defined() ? zeros.nbytes() : 0);
}

absl::StatusOr<Tensor> QTensor::Dequantize() const {
  if (!values.device().is_cpu()) return absl::UnimplementedError("dequantizing a device matrix: copy it to the CPU first");
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({rows(), cols()}, DType::kF32));
  const sy_qtensor c = ToC();
  const QTensorView view(c);
  try {
    view.Require("matrix", rows(), cols());
    for (int64_t r = 0; r < rows(); ++r) view.DequantizeRow(r, out.data<float>() + r * cols());
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return out;
}

sy_qtensor QTensor::ToC() const {
  sy_qtensor q{};
  q.layout = layout;
  q.values = values.ToC();
  if (scales.defined()) q.scales = scales.ToC();
  if (zeros.defined()) q.zeros = zeros.ToC();
  return q;
}

std::string QTensor::DescribeLayout() const {
  std::string s(DTypeName(static_cast<DType>(layout.dtype)));
  if (layout.has_scales) absl::StrAppend(&s, " blocks ", layout.block_rows, "x", layout.block_cols, " with scales");
  if (layout.has_zeros) absl::StrAppend(&s, " and zero points");
  return s;
}

}  // namespace sy
