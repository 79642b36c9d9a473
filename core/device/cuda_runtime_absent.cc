// sy::cuda for builds without CUDA: there are no devices, and asking for one says why.
#include "core/device/cuda_runtime.h"

namespace sy::cuda {
namespace {

absl::Status NotBuilt() {
  return absl::UnavailableError("this Switchyard build has no CUDA support (built without nvcc)");
}

}  // namespace

bool Built() { return false; }
int DeviceCount() { return 0; }
absl::StatusOr<void*> Malloc(size_t, int) { return NotBuilt(); }
absl::StatusOr<MemoryInfo> DeviceMemory(int) { return NotBuilt(); }
void Free(void*, int) {}
absl::StatusOr<void*> HostAllocPinned(size_t) { return NotBuilt(); }
void HostFreePinned(void*) {}
absl::Status Copy(void*, const void*, size_t, CopyKind, int) { return NotBuilt(); }
absl::StatusOr<void*> StreamCreate(int) { return NotBuilt(); }
void StreamDestroy(void*, int) {}
absl::Status StreamSynchronize(void*, int) { return NotBuilt(); }
absl::StatusOr<void*> EventCreate(int) { return NotBuilt(); }
void EventDestroy(void*, int) {}
absl::Status EventRecord(void*, void*, int) { return NotBuilt(); }
absl::StatusOr<float> EventElapsedMs(void*, void*, int) { return NotBuilt(); }

}  // namespace sy::cuda
