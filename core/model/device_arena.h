// Scratch memory of the GPU decoder (cuda_network.h): an arena that grows to the largest request
// and is reused by every later step, and a carver that cuts one allocation into aligned pieces.
// Internal to core/model's CUDA path.
#ifndef SWITCHYARD_CORE_MODEL_DEVICE_ARENA_H_
#define SWITCHYARD_CORE_MODEL_DEVICE_ARENA_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "core/base/status.h"
#include "core/device/buffer.h"
#include "core/device/device.h"

namespace sy {

// Memory (on the device, or pinned on the host) that grows to the largest request and is reused
// by every later step.
class Arena {
 public:
  explicit Arena(MemoryKind kind = MemoryKind::kDevice) : kind_(kind) {}
  absl::StatusOr<char*> Get(size_t bytes, Device device) {
    if (buffer_ == nullptr || buffer_->size() < bytes) {
      // Half again as much as before, so a run of growing batches reallocates a few times, not
      // every step. The old buffer goes first: cudaFree waits for the work still using it.
      const size_t grown = buffer_ == nullptr ? bytes : std::max(bytes, buffer_->size() * 3 / 2);
      buffer_.reset();
      SY_ASSIGN_OR_RETURN(buffer_, Buffer::Allocate(kind_, grown, device));
      ++generation_;
    }
    return static_cast<char*>(buffer_->data());
  }
  // Counts reallocations: a CUDA graph captured at one generation addresses its memory, and a
  // workspace whose state must start zeroed is initialised once per generation.
  uint64_t generation() const { return generation_; }
  // The allocation behind Get's pointer, for tensors that view part of it.
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

 private:
  MemoryKind kind_;
  std::shared_ptr<Buffer> buffer_;
  uint64_t generation_ = 0;
};

// Carves one allocation into aligned pieces.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <typename T>
  T* Take(int64_t count) {
    offset_ = (offset_ + 255) / 256 * 256;
    T* p = reinterpret_cast<T*>(base_ + offset_);
    offset_ += static_cast<size_t>(count) * sizeof(T);
    return p;
  }
  size_t used() const { return offset_; }

 private:
  char* base_;
  size_t offset_ = 0;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_DEVICE_ARENA_H_
