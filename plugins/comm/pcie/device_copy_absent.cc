// comm.pcie without CUDA: CUDA tensors are refused with a clear error.
#include "device_copy.h"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

[[noreturn]] void NoCuda() {
  throw PluginError(SY_FAILED_PRECONDITION,
                    "comm.pcie was built without CUDA; it moves CPU tensors only");
}

}  // namespace

void CudaToHost(const sy_device&, void*, void*, const void*, size_t) { NoCuda(); }
void HostToCuda(const sy_device&, void*, void*, const void*, size_t) { NoCuda(); }
void CudaToCuda(const sy_device&, void*, void*, const void*, size_t) { NoCuda(); }
void PinHostMemory(void*, size_t) { NoCuda(); }
void UnpinHostMemory(void*) {}  // nothing was pinned

}  // namespace sy::plugins
