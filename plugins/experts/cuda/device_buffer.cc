#include "device_buffer.h"

#include "switchyard/plugin.hpp"

namespace sy::plugins {

void CheckCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky per-thread error
  throw PluginError(SY_INTERNAL, std::string(what) + ": " + cudaGetErrorString(err));
}

void CheckLaunch(const std::string& error) {
  if (!error.empty()) throw PluginError(SY_INTERNAL, error);
}

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {  // no driver, too old a driver, no device
    cudaGetLastError();
    return 0;
  }
  return count;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) {
    cudaSetDevice(device_);
    cudaFree(data_);
  }
}

bool DeviceBuffer::Grow(size_t bytes, int device) {
  if (data_ != nullptr && bytes <= size_ && device == device_) return false;
  if (data_ != nullptr) {
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    CheckCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // in-flight users of the old one
    cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  CheckCuda(cudaSetDevice(device), "cudaSetDevice");
  CheckCuda(cudaMalloc(&data_, bytes), "cudaMalloc");
  size_ = bytes;
  device_ = device;
  return true;
}

}  // namespace sy::plugins
