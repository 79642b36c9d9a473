// Device memory the experts.cuda plugin owns across calls, and CUDA error checks that throw
// (the SDK turns them into sy_error at the boundary).
#ifndef SWITCHYARD_PLUGINS_EXPERTS_CUDA_DEVICE_BUFFER_H_
#define SWITCHYARD_PLUGINS_EXPERTS_CUDA_DEVICE_BUFFER_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace sy::plugins {

// Throws sy::PluginError(SY_INTERNAL) naming `what` unless `err` is cudaSuccess.
void CheckCuda(cudaError_t err, const char* what);
// Throws sy::PluginError(SY_INTERNAL) unless a kernel launcher returned "".
void CheckLaunch(const std::string& error);
// Usable CUDA devices (0 when there is no driver or no device).
int CudaDeviceCount();

// A growable device allocation on one device. Grow() keeps nothing of the old contents.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // True when it had to reallocate (the caller re-initialises the contents).
  bool Grow(size_t bytes, int device);
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  int device_ = 0;
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_EXPERTS_CUDA_DEVICE_BUFFER_H_
