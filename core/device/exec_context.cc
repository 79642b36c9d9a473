#include "core/device/exec_context.h"

#include <algorithm>
#include <thread>

#include "core/base/status.h"
#include "core/device/cuda_runtime.h"

namespace sy {

Workspace::Workspace(Device device, size_t chunk_bytes)
    : device_(device), chunk_bytes_(chunk_bytes) {
  c_allocator_.self = this;
  c_allocator_.allocate = [](void* self, size_t bytes, size_t alignment) {
    return static_cast<Workspace*>(self)->Allocate(bytes, alignment);
  };
}

void* Workspace::Allocate(size_t bytes, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return nullptr;
  for (Chunk& chunk : chunks_) {
    const auto base = reinterpret_cast<uintptr_t>(chunk.buffer->data());
    const uintptr_t start = (base + chunk.used + alignment - 1) & ~(alignment - 1);
    if (start + bytes <= base + chunk.buffer->size()) {
      chunk.used = start + bytes - base;
      return reinterpret_cast<void*>(start);
    }
  }
  const size_t size = std::max(chunk_bytes_, bytes + alignment);
  auto buffer =
      Buffer::Allocate(device_.is_cpu() ? MemoryKind::kHost : MemoryKind::kDevice, size, device_);
  if (!buffer.ok()) return nullptr;
  chunks_.push_back({*std::move(buffer), 0});
  return Allocate(bytes, alignment);
}

void Workspace::Reset() {
  for (Chunk& chunk : chunks_) chunk.used = 0;
}

absl::StatusOr<std::unique_ptr<ExecContext>> ExecContext::Create(Device device, int num_threads) {
  void* stream = nullptr;
  if (device.is_cuda()) {
    SY_ASSIGN_OR_RETURN(stream, cuda::StreamCreate(device.index));
  }
  if (num_threads <= 0)
    num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::unique_ptr<ExecContext>(new ExecContext(device, stream, num_threads));
}

ExecContext::ExecContext(Device device, void* stream, int num_threads)
    : device_(device), stream_(stream), num_threads_(num_threads), workspace_(device) {
  c_context_ = {sizeof(sy_exec_context), device.ToC(), stream, workspace_.c_allocator(),
                num_threads};
}

ExecContext::~ExecContext() {
  if (stream_ != nullptr) cuda::StreamDestroy(stream_, device_.index);
}

absl::Status ExecContext::Synchronize() const {
  if (stream_ == nullptr) return absl::OkStatus();
  return cuda::StreamSynchronize(stream_, device_.index);
}

const sy_exec_context* ExecContext::BeginCall() {
  workspace_.Reset();
  return &c_context_;
}

}  // namespace sy
