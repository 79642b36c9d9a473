// sy::cuda on top of the CUDA runtime (builds with CUDA).
#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/device/cuda_runtime.h"

namespace sy::cuda {
namespace {

absl::Status Check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();  // clear the sticky per-thread error
  return absl::UnavailableError(absl::StrCat(what, ": ", cudaGetErrorString(err)));
}

}  // namespace

bool Built() { return true; }

int DeviceCount() {
  int count = 0;
  // Any error (no driver, insufficient driver, no device) means no usable GPU.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

absl::StatusOr<void*> Malloc(size_t bytes, int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  void* ptr = nullptr;
  const cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    // Say how much was asked and what is left: the process cannot see what the GPU's other
    // processes hold, and the figures tell which to shrink.
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    constexpr double kGiB = 1 << 30;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "cudaMalloc of %.2f GiB on cuda:%d: out of memory (%.2f GiB free of %.2f GiB)",
        bytes / kGiB, device, free_bytes / kGiB, total_bytes / kGiB));
  }
  if (auto s = Check(err, "cudaMalloc"); !s.ok()) return s;
  return ptr;
}

absl::StatusOr<MemoryInfo> DeviceMemory(int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  MemoryInfo info;
  if (auto s = Check(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "cudaMemGetInfo");
      !s.ok()) {
    return s;
  }
  return info;
}

void Free(void* ptr, int device) {
  cudaSetDevice(device);
  cudaFree(ptr);
}

absl::StatusOr<void*> HostAllocPinned(size_t bytes) {
  void* ptr = nullptr;
  if (auto s = Check(cudaMallocHost(&ptr, bytes), "cudaMallocHost"); !s.ok()) return s;
  return ptr;
}

void HostFreePinned(void* ptr) { cudaFreeHost(ptr); }

absl::Status Copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  const cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                             : cudaMemcpyDeviceToDevice;
  if (auto s = Check(cudaMemcpy(dst, src, bytes, k), "cudaMemcpy"); !s.ok()) return s;
  // cudaMemcpy may return before a copy from pageable memory or between device buffers lands;
  // work on a non-blocking stream (every ExecContext's) would not wait for it.
  return Check(cudaStreamSynchronize(cudaStreamLegacy), "cudaMemcpy");
}

absl::StatusOr<void*> StreamCreate(int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  cudaStream_t stream = nullptr;
  if (auto s = Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
      !s.ok()) {
    return s;
  }
  return static_cast<void*>(stream);
}

void StreamDestroy(void* stream, int device) {
  cudaSetDevice(device);
  cudaStreamDestroy(static_cast<cudaStream_t>(stream));
}

absl::Status StreamSynchronize(void* stream, int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  return Check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

absl::StatusOr<void*> EventCreate(int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  cudaEvent_t event = nullptr;
  if (auto s = Check(cudaEventCreate(&event), "cudaEventCreate"); !s.ok()) return s;
  return static_cast<void*>(event);
}

void EventDestroy(void* event, int device) {
  cudaSetDevice(device);
  cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

absl::Status EventRecord(void* event, void* stream, int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  return Check(cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)),
               "cudaEventRecord");
}

absl::StatusOr<float> EventElapsedMs(void* start, void* end, int device) {
  if (auto s = Check(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  if (auto s = Check(cudaEventSynchronize(static_cast<cudaEvent_t>(end)), "cudaEventSynchronize");
      !s.ok()) {
    return s;
  }
  float ms = 0;
  if (auto s = Check(
          cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)),
          "cudaEventElapsedTime");
      !s.ok()) {
    return s;
  }
  return ms;
}

}  // namespace sy::cuda
