// Where memory lives and code runs: the CPU or one CUDA device.
#ifndef SWITCHYARD_CORE_DEVICE_DEVICE_H_
#define SWITCHYARD_CORE_DEVICE_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchyard/plugin_abi.h"

namespace sy {

struct Device {
  sy_device_type type = SY_DEVICE_CPU;
  int index = 0;

  static Device Cpu() { return {SY_DEVICE_CPU, 0}; }
  static Device Cuda(int index) { return {SY_DEVICE_CUDA, index}; }

  bool is_cpu() const { return type == SY_DEVICE_CPU; }
  bool is_cuda() const { return type == SY_DEVICE_CUDA; }
  sy_device ToC() const { return {static_cast<int32_t>(type), index}; }
  std::string ToString() const;
  // Parses "cpu", "cuda" (device 0) or "cuda:N".
  static absl::StatusOr<Device> Parse(absl::string_view text);

  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DEVICE_DEVICE_H_
