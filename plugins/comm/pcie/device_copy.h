// The copies comm.pcie makes between a tensor's memory and host memory. CUDA copies run on the
// call's stream and are waited for, so the host side is ready when they return. In a build
// without CUDA every CUDA function throws.
#ifndef SWITCHYARD_PLUGINS_COMM_PCIE_DEVICE_COPY_H_
#define SWITCHYARD_PLUGINS_COMM_PCIE_DEVICE_COPY_H_

#include <cstddef>

#include "switchyard/plugin_abi.h"

namespace sy::plugins {

void CudaToHost(const sy_device& device, void* stream, void* host, const void* src, size_t bytes);
void HostToCuda(const sy_device& device, void* stream, void* dst, const void* host, size_t bytes);
void CudaToCuda(const sy_device& device, void* stream, void* dst, const void* src, size_t bytes);
// Page-locks mapped host memory so CUDA copies into and out of it run by DMA.
void PinHostMemory(void* host, size_t bytes);
void UnpinHostMemory(void* host);

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_COMM_PCIE_DEVICE_COPY_H_
