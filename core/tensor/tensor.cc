#include "core/tensor/tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"
#include "core/tensor/tensor_convert.h"

namespace sy {
namespace {

absl::Status ValidateShape(const Shape& shape, DType dtype) {
  if (DTypeBits(dtype) == 0) return absl::InvalidArgumentError("invalid dtype");
  if (shape.size() > SY_MAX_DIMS) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", shape.size(), " exceeds the maximum of ", SY_MAX_DIMS));
  }
  for (int64_t d : shape) {
    if (d < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in ", ShapeToString(shape)));
  }
  if (IsPacked(dtype) && (shape.empty() || shape.back() % 2 != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(DTypeName(dtype)),
                                                   " tensors need an even last dimension, got ",
                                                   ShapeToString(shape)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape ContiguousStrides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

Tensor::Tensor(std::shared_ptr<Buffer> buffer, int64_t offset_bytes, DType dtype, Shape shape,
               Shape strides)
    : buffer_(std::move(buffer)),
      offset_bytes_(offset_bytes),
      dtype_(dtype),
      shape_(std::move(shape)),
      strides_(std::move(strides)) {}

absl::StatusOr<Tensor> Tensor::Empty(const Shape& shape, DType dtype, Device device) {
  SY_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  const MemoryKind kind = device.is_cpu() ? MemoryKind::kHost : MemoryKind::kDevice;
  SY_ASSIGN_OR_RETURN(auto buffer,
                      Buffer::Allocate(kind, DTypeBytes(dtype, NumElements(shape)), device));
  return Tensor(std::move(buffer), 0, dtype, shape, ContiguousStrides(shape));
}

absl::StatusOr<Tensor> Tensor::EmptyPinned(const Shape& shape, DType dtype) {
  SY_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  SY_ASSIGN_OR_RETURN(auto buffer, Buffer::Allocate(MemoryKind::kPinnedHost,
                                                    DTypeBytes(dtype, NumElements(shape))));
  return Tensor(std::move(buffer), 0, dtype, shape, ContiguousStrides(shape));
}

absl::StatusOr<Tensor> Tensor::Zeros(const Shape& shape, DType dtype, Device device) {
  SY_ASSIGN_OR_RETURN(Tensor cpu, Empty(shape, dtype));
  std::memset(cpu.raw_data(), 0, cpu.nbytes());
  if (device.is_cpu()) return cpu;
  return cpu.To(device);
}

absl::StatusOr<Tensor> Tensor::FromF32(const Shape& shape, const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != NumElements(shape)) {
    return absl::InvalidArgumentError(
        absl::StrCat(values.size(), " values do not fill shape ", ShapeToString(shape)));
  }
  SY_ASSIGN_OR_RETURN(Tensor t, Empty(shape, DType::kF32));
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

absl::StatusOr<Tensor> Tensor::FromBuffer(std::shared_ptr<Buffer> buffer, int64_t offset_bytes,
                                          const Shape& shape, DType dtype) {
  SY_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  const int64_t bytes = DTypeBytes(dtype, NumElements(shape));
  if (buffer == nullptr || offset_bytes < 0 ||
      offset_bytes + bytes > static_cast<int64_t>(buffer->size())) {
    return absl::OutOfRangeError(
        absl::StrCat(bytes, " bytes at offset ", offset_bytes, " do not fit the buffer"));
  }
  return Tensor(std::move(buffer), offset_bytes, dtype, shape, ContiguousStrides(shape));
}

bool Tensor::is_contiguous() const { return strides_ == ContiguousStrides(shape_) || numel() <= 1; }

void* Tensor::raw_data() const {
  return buffer_ ? static_cast<char*>(buffer_->data()) + offset_bytes_ : nullptr;
}

absl::StatusOr<Tensor> Tensor::Reshape(const Shape& shape) const {
  if (!is_contiguous()) return absl::FailedPreconditionError("reshape needs a contiguous tensor");
  if (NumElements(shape) != numel()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", ShapeToString(shape_), " to ", ShapeToString(shape)));
  }
  SY_RETURN_IF_ERROR(ValidateShape(shape, dtype_));
  return Tensor(buffer_, offset_bytes_, dtype_, shape, ContiguousStrides(shape));
}

absl::StatusOr<Tensor> Tensor::SliceRows(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end < begin || end > shape_[0]) {
    return absl::OutOfRangeError(absl::StrCat("rows [", begin, ", ", end, ") of ", Describe()));
  }
  if (IsPacked(dtype_) && (strides_[0] * begin) % 2 != 0) {
    return absl::InvalidArgumentError("slice would split a packed byte");
  }
  Shape shape = shape_;
  shape[0] = end - begin;
  return Tensor(buffer_, offset_bytes_ + DTypeBytes(dtype_, strides_[0] * begin), dtype_, shape,
                strides_);
}

absl::StatusOr<Tensor> Tensor::To(Device target) const {
  if (!is_contiguous()) return absl::UnimplementedError("copying a strided tensor");
  SY_ASSIGN_OR_RETURN(Tensor out, Empty(shape_, dtype_, target));
  const Device source = device();
  if (source.is_cpu() && target.is_cpu()) {
    std::memcpy(out.raw_data(), raw_data(), nbytes());
    return out;
  }
  const cuda::CopyKind kind = source.is_cpu()   ? cuda::CopyKind::kHostToDevice
                              : target.is_cpu() ? cuda::CopyKind::kDeviceToHost
                                                : cuda::CopyKind::kDeviceToDevice;
  SY_RETURN_IF_ERROR(cuda::Copy(out.raw_data(), raw_data(), nbytes(), kind,
                                source.is_cuda() ? source.index : target.index));
  return out;
}

double Tensor::Get(int64_t flat_index) const {
  int64_t offset = 0;
  for (int i = ndim() - 1; i >= 0; --i) {
    offset += (flat_index % shape_[i]) * strides_[i];
    flat_index /= shape_[i];
  }
  return ReadElement(raw_data(), dtype_, offset);
}

sy_tensor Tensor::ToC() const {
  sy_tensor t{};
  t.data = raw_data();
  t.dtype = static_cast<int32_t>(dtype_);
  t.device = device().ToC();
  t.ndim = ndim();
  for (int i = 0; i < ndim(); ++i) {
    t.shape[i] = shape_[i];
    t.strides[i] = strides_[i];
  }
  return t;
}

std::string Tensor::Describe() const {
  return absl::StrCat(std::string(DTypeName(dtype_)), ShapeToString(shape_), " on ",
                      device().ToString());
}

}  // namespace sy
