#include "plugins/comm/cuda_support/cuda_support.h"

#include <thread>

#include "switchyard/plugin.hpp"

namespace sy::plugins::comm_cuda {

void Check(cudaError_t err, const char* component, const std::string& what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky per-thread error
  throw PluginError(SY_INTERNAL,
                    std::string(component) + ": " + what + ": " + cudaGetErrorString(err));
}

int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {  // no driver, too old a driver, no device
    cudaGetLastError();
    return 0;
  }
  return count;
}

bool PeerAccessAmong(int count) {
  for (int a = 0; a < count; ++a) {
    for (int b = 0; b < count; ++b) {
      int can = 0;
      if (a != b && (cudaDeviceCanAccessPeer(&can, a, b) != cudaSuccess || can == 0)) {
        cudaGetLastError();
        return false;
      }
    }
  }
  return true;
}

int DeviceFor(const sy_exec_context& ctx, const sy_comm_group& group, const char* component) {
  if (ctx.device.type == SY_DEVICE_CUDA) return ctx.device.index;
  const int count = DeviceCount();
  if (count == 0)
    throw PluginError(SY_FAILED_PRECONDITION, std::string(component) + " needs a CUDA device");
  return group.local_rank % count;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

void* DeviceBuffer::Reserve(size_t bytes, const char* component) {
  if (data_ != nullptr && bytes <= size_) return data_;
  if (data_ != nullptr) {
    Check(cudaDeviceSynchronize(), component, "cudaDeviceSynchronize");  // users of the old one
    cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  Check(cudaMalloc(&data_, bytes == 0 ? 1 : bytes), component,
        "cudaMalloc of " + std::to_string(bytes) + " bytes");
  size_ = bytes;
  return data_;
}

void WaitStream(cudaStream_t stream, std::chrono::steady_clock::time_point deadline,
                const std::function<void()>& poll, const char* component,
                const std::string& on_timeout) {
  for (;;) {
    const cudaError_t status = cudaStreamQuery(stream);
    if (status == cudaSuccess) return;
    if (status != cudaErrorNotReady) Check(status, component, "cudaStreamQuery");
    poll();
    if (std::chrono::steady_clock::now() > deadline)
      throw PluginError(SY_UNAVAILABLE, std::string(component) + ": " + on_timeout);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace sy::plugins::comm_cuda
