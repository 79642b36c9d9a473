// Tensor: a typed, strided view into a shared Buffer, on the CPU or a CUDA device.
//
// Copies of a Tensor share memory (like torch.Tensor); Clone() copies the data. Plugins see
// tensors as borrowed sy_tensor views (ToC()).
#ifndef SWITCHYARD_CORE_TENSOR_TENSOR_H_
#define SWITCHYARD_CORE_TENSOR_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/buffer.h"
#include "core/device/device.h"
#include "switchyard/dtype.hpp"
#include "switchyard/plugin_abi.h"

namespace sy {

using Shape = std::vector<int64_t>;

std::string ShapeToString(const Shape& shape);
int64_t NumElements(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  // New contiguous, uninitialised memory. kPinnedHost gives a CPU tensor in page-locked memory.
  static absl::StatusOr<Tensor> Empty(const Shape& shape, DType dtype,
                                      Device device = Device::Cpu());
  static absl::StatusOr<Tensor> EmptyPinned(const Shape& shape, DType dtype);
  static absl::StatusOr<Tensor> Zeros(const Shape& shape, DType dtype,
                                      Device device = Device::Cpu());
  // A CPU f32 tensor holding `values` (row-major); values.size() must equal the element count.
  static absl::StatusOr<Tensor> FromF32(const Shape& shape, const std::vector<float>& values);
  // A contiguous view of `buffer` from `offset_bytes` (memory someone else filled, such as a
  // Buffer::Wrap of an mmapped checkpoint); the view must lie inside the buffer.
  static absl::StatusOr<Tensor> FromBuffer(std::shared_ptr<Buffer> buffer, int64_t offset_bytes,
                                           const Shape& shape, DType dtype);

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::Cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t numel() const { return NumElements(shape_); }
  int64_t nbytes() const { return DTypeBytes(dtype_, numel()); }
  bool is_contiguous() const;

  void* raw_data() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  // A view with a new shape of the same element count; needs a contiguous tensor.
  absl::StatusOr<Tensor> Reshape(const Shape& shape) const;
  // Rows [begin, end) of dimension 0, sharing memory.
  absl::StatusOr<Tensor> SliceRows(int64_t begin, int64_t end) const;
  // A contiguous copy on `device` (host<->device copies need CUDA).
  absl::StatusOr<Tensor> To(Device device) const;
  absl::StatusOr<Tensor> Clone() const { return To(device()); }

  // Element i (row-major over the logical shape) of a CPU tensor. For tests, printing and
  // conversions, not hot loops.
  double Get(int64_t flat_index) const;

  // A borrowed C view; valid while this tensor (or another sharing its buffer) lives.
  sy_tensor ToC() const;
  // "bf16[4,8] on cpu"
  std::string Describe() const;

 private:
  Tensor(std::shared_ptr<Buffer> buffer, int64_t offset_bytes, DType dtype, Shape shape,
         Shape strides);

  std::shared_ptr<Buffer> buffer_;
  int64_t offset_bytes_ = 0;
  DType dtype_ = DType::kInvalid;
  Shape shape_;
  Shape strides_;
};

// Row-major strides (in elements) for `shape`.
Shape ContiguousStrides(const Shape& shape);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TENSOR_TENSOR_H_
