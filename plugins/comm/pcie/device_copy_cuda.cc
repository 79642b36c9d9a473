#include <cuda_runtime_api.h>

#include <string>

#include "device_copy.h"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

void Check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky per-thread error
  throw PluginError(SY_INTERNAL,
                    std::string("comm.pcie: ") + what + ": " + cudaGetErrorString(err));
}

void Copy(const sy_device& device, void* stream, void* dst, const void* src, size_t bytes,
          cudaMemcpyKind kind) {
  Check(cudaSetDevice(device.index), "cudaSetDevice");
  auto s = static_cast<cudaStream_t>(stream);
  Check(cudaMemcpyAsync(dst, src, bytes, kind, s), "cudaMemcpyAsync");
  Check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

}  // namespace

void CudaToHost(const sy_device& device, void* stream, void* host, const void* src, size_t bytes) {
  Copy(device, stream, host, src, bytes, cudaMemcpyDeviceToHost);
}

void HostToCuda(const sy_device& device, void* stream, void* dst, const void* host, size_t bytes) {
  Copy(device, stream, dst, host, bytes, cudaMemcpyHostToDevice);
}

void CudaToCuda(const sy_device& device, void* stream, void* dst, const void* src, size_t bytes) {
  Copy(device, stream, dst, src, bytes, cudaMemcpyDeviceToDevice);
}

void PinHostMemory(void* host, size_t bytes) {
  Check(cudaHostRegister(host, bytes, cudaHostRegisterPortable), "cudaHostRegister");
}

void UnpinHostMemory(void* host) { cudaHostUnregister(host); }

}  // namespace sy::plugins
