// The few CUDA runtime calls the core makes, behind a plain interface so the rest of the core
// compiles without CUDA headers. In a CPU-only build every call reports that CUDA is absent.
#ifndef SWITCHYARD_CORE_DEVICE_CUDA_RUNTIME_H_
#define SWITCHYARD_CORE_DEVICE_CUDA_RUNTIME_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sy::cuda {

// True when this build contains the CUDA path.
bool Built();
// Usable CUDA devices; 0 when the build has no CUDA or no driver/device is present.
int DeviceCount();

absl::StatusOr<void*> Malloc(size_t bytes, int device);
// Free and total bytes of `device`'s memory.
struct MemoryInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
absl::StatusOr<MemoryInfo> DeviceMemory(int device);
void Free(void* ptr, int device);
absl::StatusOr<void*> HostAllocPinned(size_t bytes);
void HostFreePinned(void* ptr);

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };
// A copy on the default stream of `device` that returns once the bytes are in place, so any
// stream may read them.
absl::Status Copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device);

absl::StatusOr<void*> StreamCreate(int device);
void StreamDestroy(void* stream, int device);
absl::Status StreamSynchronize(void* stream, int device);

// Timing work on a stream: an event marks where the work queued so far on `stream` ends.
absl::StatusOr<void*> EventCreate(int device);
void EventDestroy(void* event, int device);
absl::Status EventRecord(void* event, void* stream, int device);
// Milliseconds from `start` to `end`, both recorded; waits for `end` to complete.
absl::StatusOr<float> EventElapsedMs(void* start, void* end, int device);

}  // namespace sy::cuda

#endif  // SWITCHYARD_CORE_DEVICE_CUDA_RUNTIME_H_
