// Shared by the CUDA comm backends: CUDA error checks that throw (the SDK turns them into
// sy_error at the boundary), the device a rank uses, and host tensors staged through device
// memory so a backend that only moves device memory also serves CPU tensors (tests, the
// conformance suite, `switchyard comm-check` on a CPU context).
#ifndef SWITCHYARD_PLUGINS_COMM_CUDA_SUPPORT_CUDA_SUPPORT_H_
#define SWITCHYARD_PLUGINS_COMM_CUDA_SUPPORT_CUDA_SUPPORT_H_

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "switchyard/plugin_abi.h"

namespace sy::plugins::comm_cuda {

// Throws PluginError(SY_INTERNAL) "<component>: <what>: <CUDA's message>" unless cudaSuccess.
void Check(cudaError_t err, const char* component, const std::string& what);
// Usable CUDA devices (0 when there is no driver or no device).
int DeviceCount();
// Whether every pair of devices 0 .. count-1 can access each other's memory (NVLink or PCIe P2P).
bool PeerAccessAmong(int count);
// The device a rank uses: the context's when it is a CUDA context, else local_rank modulo the
// devices this process sees. Throws SY_FAILED_PRECONDITION without a device.
int DeviceFor(const sy_exec_context& ctx, const sy_comm_group& group, const char* component);

// A growable device allocation. Reserve() keeps nothing of the old contents.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* Reserve(size_t bytes, const char* component);
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Waits for `stream` until `deadline`, calling `poll` between queries (a backend checks its
// own error state there and throws). Throws SY_UNAVAILABLE with `on_timeout` at the deadline.
void WaitStream(cudaStream_t stream, std::chrono::steady_clock::time_point deadline,
                const std::function<void()>& poll, const char* component,
                const std::string& on_timeout);

}  // namespace sy::plugins::comm_cuda

#endif  // SWITCHYARD_PLUGINS_COMM_CUDA_SUPPORT_CUDA_SUPPORT_H_
