#include "core/device/buffer.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"

namespace sy {
namespace {

constexpr size_t kHostAlignment = 64;

}  // namespace

absl::StatusOr<std::shared_ptr<Buffer>> Buffer::Allocate(MemoryKind kind, size_t bytes,
                                                         Device device) {
  // Zero-byte tensors still get a distinct, freeable allocation.
  const size_t request = bytes == 0 ? 1 : bytes;
  void* data = nullptr;
  switch (kind) {
    case MemoryKind::kHost: {
      const size_t rounded = (request + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
      data = std::aligned_alloc(kHostAlignment, rounded);
      if (data == nullptr) {
        return absl::ResourceExhaustedError(absl::StrCat("out of host memory (", bytes, " bytes)"));
      }
      return std::shared_ptr<Buffer>(new Buffer(data, bytes, kind, Device::Cpu()));
    }
    case MemoryKind::kPinnedHost: {
      SY_ASSIGN_OR_RETURN(data, cuda::HostAllocPinned(request));
      return std::shared_ptr<Buffer>(new Buffer(data, bytes, kind, Device::Cpu()));
    }
    case MemoryKind::kDevice: {
      if (!device.is_cuda()) {
        return absl::InvalidArgumentError("device memory needs a CUDA device");
      }
      SY_ASSIGN_OR_RETURN(data, cuda::Malloc(request, device.index));
      return std::shared_ptr<Buffer>(new Buffer(data, bytes, kind, device));
    }
  }
  return absl::InvalidArgumentError("unknown memory kind");
}

std::shared_ptr<Buffer> Buffer::Wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive,
                                     Device device) {
  const MemoryKind kind = device.is_cuda() ? MemoryKind::kDevice : MemoryKind::kHost;
  std::shared_ptr<Buffer> buffer(new Buffer(data, bytes, kind, device));
  buffer->wrapped_ = true;
  buffer->keep_alive_ = std::move(keep_alive);
  return buffer;
}

Buffer::~Buffer() {
  if (wrapped_) return;  // keep_alive_ releases the memory, if it is the last owner
  switch (kind_) {
    case MemoryKind::kHost:
      std::free(data_);
      break;
    case MemoryKind::kPinnedHost:
      cuda::HostFreePinned(data_);
      break;
    case MemoryKind::kDevice:
      cuda::Free(data_, device_.index);
      break;
  }
}

}  // namespace sy
