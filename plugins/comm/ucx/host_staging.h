// Pinned host memory that device tensors pass through when UCX cannot touch CUDA memory
// (Debian's UCX has no cuda_copy/cuda_ipc transports). CUDA builds only.
#ifndef SWITCHYARD_PLUGINS_COMM_UCX_HOST_STAGING_H_
#define SWITCHYARD_PLUGINS_COMM_UCX_HOST_STAGING_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace sy::plugins {

class HostStaging {
 public:
  HostStaging() = default;
  ~HostStaging();
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;

  // Copies `bytes` of device memory at `device_src` into the send area on `stream` and waits:
  // returns the host copy. Waits first for the previous ToDevice to have read the receive area.
  void* FromDevice(int device, cudaStream_t stream, const void* device_src, size_t bytes);
  // A receive area of `bytes` that UCX fills before ToDevice (call after FromDevice).
  void* ReceiveArea(size_t bytes);
  // Queues the copy of the receive area's bytes [offset, offset + bytes) to the same range of
  // `device_dst` on `stream` (the call may return first, as the ABI allows on CUDA).
  void ToDevice(cudaStream_t stream, void* device_dst, size_t offset, size_t bytes);
  // Marks the end of a call's ToDevice copies: the next FromDevice waits for them.
  void Finish(cudaStream_t stream);

 private:
  struct Pinned {
    void* data = nullptr;
    size_t size = 0;
    void* Reserve(size_t bytes);
    ~Pinned();
  };
  Pinned send_, receive_;
  cudaEvent_t receive_read_ = nullptr;  // recorded after the last ToDevice
};

// Throws PluginError(SY_INTERNAL) naming `what` unless `err` is cudaSuccess.
void CheckCuda(cudaError_t err, const char* what);
// Usable CUDA devices (0 when there is no driver or no device).
int CudaDeviceCount();

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_COMM_UCX_HOST_STAGING_H_
