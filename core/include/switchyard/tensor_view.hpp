// A C++ reading of sy_tensor for plugin code: shape queries and typed element pointers.
//
// A TensorView borrows the sy_tensor it wraps; it owns nothing and must not outlive the call
// that received the tensor.
#ifndef SWITCHYARD_TENSOR_VIEW_HPP_
#define SWITCHYARD_TENSOR_VIEW_HPP_

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "switchyard/dtype.hpp"
#include "switchyard/plugin_abi.h"

namespace sy {

class TensorView {
 public:
  explicit TensorView(const sy_tensor& tensor) : t_(&tensor) {}

  DType dtype() const { return static_cast<DType>(t_->dtype); }
  int ndim() const { return t_->ndim; }
  int64_t dim(int i) const { return t_->shape[i]; }
  int64_t stride(int i) const { return t_->strides[i]; }
  bool on_cpu() const { return t_->device.type == SY_DEVICE_CPU; }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < t_->ndim; ++i) n *= t_->shape[i];
    return n;
  }

  // Row-major with no gaps.
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = t_->ndim - 1; i >= 0; --i) {
      if (t_->shape[i] != 1 && t_->strides[i] != expected) return false;
      expected *= t_->shape[i];
    }
    return true;
  }

  template <typename T>
  T* data() const {
    return static_cast<T*>(t_->data);
  }

  // Throws std::invalid_argument (turned into an sy_error by the SDK) unless the tensor has
  // this rank and dtype, lives on the CPU and is contiguous. `what` names it in the message.
  void RequireCpuContiguous(const char* what, int rank, DType type) const {
    if (ndim() != rank || dtype() != type || !on_cpu() || !is_contiguous()) {
      throw std::invalid_argument(std::string(what) + ": expected a contiguous CPU " +
                                  std::string(DTypeName(type)) + " tensor of rank " +
                                  std::to_string(rank) + ", got " + Describe());
    }
  }

  // Throws std::invalid_argument naming the first NaN or infinite element of a contiguous CPU
  // f32, bf16 or f16 tensor ("logits: element [3, 5] is NaN"). Other dtypes pass.
  void RequireFinite(const char* what) const {
    const int64_t n = numel();
    for (int64_t i = 0; i < n; ++i) {
      float x = 0.0f;
      switch (dtype()) {
        case DType::kF32:
          x = data<const float>()[i];
          break;
        case DType::kBF16:
          x = BF16ToF32(data<const uint16_t>()[i]);
          break;
        case DType::kF16:
          x = F16ToF32(data<const uint16_t>()[i]);
          break;
        default:
          return;
      }
      if (!std::isfinite(x)) {
        throw std::invalid_argument(std::string(what) + ": element " + IndexOf(i) + " is " +
                                    (std::isnan(x) ? "NaN" : "infinite"));
      }
    }
  }

  std::string Describe() const {
    std::string s = std::string(DTypeName(dtype())) + "[";
    for (int i = 0; i < ndim(); ++i) s += (i ? "," : "") + std::to_string(dim(i));
    return s + "]" + (on_cpu() ? " on cpu" : " on cuda:" + std::to_string(t_->device.index));
  }

 private:
  // "[i, j, ...]" of row-major flat index `flat`.
  std::string IndexOf(int64_t flat) const {
    std::string s;
    for (int i = ndim() - 1; i >= 0; --i) {
      s = std::to_string(flat % dim(i)) + (s.empty() ? "" : ", ") + s;
      flat /= dim(i);
    }
    return "[" + s + "]";
  }

  const sy_tensor* t_;
};

}  // namespace sy

#endif  // SWITCHYARD_TENSOR_VIEW_HPP_
