// What the kernel tests share: whether a GPU is here, device memory for a test's lifetime,
// copies both ways, and seeded random inputs.
#ifndef SWITCHYARD_KERNELS_CUDA_TEST_SUPPORT_H_
#define SWITCHYARD_KERNELS_CUDA_TEST_SUPPORT_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace sy::kernels::test_support {

// Any CUDA error (no driver, insufficient driver, no device) means no usable GPU.
inline bool HaveGpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) {
    EXPECT_EQ(cudaMalloc(&ptr_, std::max<size_t>(bytes, 1)), cudaSuccess);
  }
  ~DeviceMemory() { cudaFree(ptr_); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

template <typename T>
std::unique_ptr<DeviceMemory> Upload(const std::vector<T>& host) {
  auto d = std::make_unique<DeviceMemory>(sizeof(T) * host.size());
  EXPECT_EQ(cudaMemcpy(d->get(), host.data(), sizeof(T) * host.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  return d;
}

// Waits for the device, then copies n values back.
template <typename T>
std::vector<T> Download(const T* device, size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), device, sizeof(T) * n, cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// n values uniform in [-scale, scale) from `seed`.
inline std::vector<float> RandomF32(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace sy::kernels::test_support

#endif  // SWITCHYARD_KERNELS_CUDA_TEST_SUPPORT_H_
