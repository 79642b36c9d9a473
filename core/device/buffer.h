// Owning allocations: pageable host, pinned host (CUDA page-locked) and CUDA device memory.
// Buffers are shared by the tensors that view them and freed with the last reference.
// Wrap() borrows host memory someone else owns (an mmapped checkpoint) instead.
#ifndef SWITCHYARD_CORE_DEVICE_BUFFER_H_
#define SWITCHYARD_CORE_DEVICE_BUFFER_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "core/device/device.h"

namespace sy {

enum class MemoryKind { kHost, kPinnedHost, kDevice };

class Buffer {
 public:
  // Host buffers are 64-byte aligned. kDevice needs a CUDA `device`; the others ignore it.
  static absl::StatusOr<std::shared_ptr<Buffer>> Allocate(MemoryKind kind, size_t bytes,
                                                          Device device = Device::Cpu());
  // Memory owned elsewhere: never freed by the Buffer, which holds `keep_alive` (say, the
  // mapping that `data` lies in) until the last tensor viewing it is gone. Host memory unless
  // `device` is a CUDA device (a comm backend's registered buffer, say).
  static std::shared_ptr<Buffer> Wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive,
                                      Device device = Device::Cpu());
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  MemoryKind kind() const { return kind_; }
  // The device the memory is addressed from: the CPU for both host kinds.
  Device device() const { return device_; }

 private:
  Buffer(void* data, size_t size, MemoryKind kind, Device device)
      : data_(data), size_(size), kind_(kind), device_(device) {}

  void* data_;
  size_t size_;
  MemoryKind kind_;
  Device device_;
  bool wrapped_ = false;
  std::shared_ptr<void> keep_alive_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DEVICE_BUFFER_H_
