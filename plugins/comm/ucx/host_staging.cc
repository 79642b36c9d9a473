#include "host_staging.h"

#include <string>

#include "switchyard/plugin.hpp"

namespace sy::plugins {

void CheckCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky per-thread error
  throw PluginError(SY_INTERNAL, std::string("comm.ucx: ") + what + ": " + cudaGetErrorString(err));
}

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

void* HostStaging::Pinned::Reserve(size_t bytes) {
  if (bytes <= size && data != nullptr) return data;
  if (data != nullptr) cudaFreeHost(data);
  data = nullptr;
  size = 0;
  CheckCuda(cudaMallocHost(&data, bytes == 0 ? 1 : bytes), "cudaMallocHost");
  size = bytes;
  return data;
}

HostStaging::Pinned::~Pinned() {
  if (data != nullptr) cudaFreeHost(data);
}

HostStaging::~HostStaging() {
  if (receive_read_ != nullptr) {
    cudaEventSynchronize(receive_read_);
    cudaEventDestroy(receive_read_);
  }
}

void* HostStaging::FromDevice(int device, cudaStream_t stream, const void* device_src,
                              size_t bytes) {
  CheckCuda(cudaSetDevice(device), "cudaSetDevice");
  if (receive_read_ == nullptr) {
    CheckCuda(cudaEventCreateWithFlags(&receive_read_, cudaEventDisableTiming), "cudaEventCreate");
  }
  CheckCuda(cudaEventSynchronize(receive_read_), "waiting for the previous receive");
  void* host = send_.Reserve(bytes);
  if (bytes > 0) {
    CheckCuda(cudaMemcpyAsync(host, device_src, bytes, cudaMemcpyDeviceToHost, stream),
              "cudaMemcpyAsync to the host");
  }
  CheckCuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  return host;
}

void* HostStaging::ReceiveArea(size_t bytes) { return receive_.Reserve(bytes); }

void HostStaging::ToDevice(cudaStream_t stream, void* device_dst, size_t offset, size_t bytes) {
  if (bytes == 0) return;
  CheckCuda(cudaMemcpyAsync(static_cast<char*>(device_dst) + offset,
                            static_cast<const char*>(receive_.data) + offset, bytes,
                            cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync to the device");
}

void HostStaging::Finish(cudaStream_t stream) {
  CheckCuda(cudaEventRecord(receive_read_, stream), "cudaEventRecord");
}

}  // namespace sy::plugins
