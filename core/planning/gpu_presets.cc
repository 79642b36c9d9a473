#include "core/planning/gpu_presets.h"

#include "absl/strings/str_cat.h"

namespace sy::planning {

const std::vector<GpuSpec>& GpuPresets() {
  static const std::vector<GpuSpec> presets = {
      {"h200", "H200", 141'000'000'000},
      {"h100", "H100", 80'000'000'000},
      {"a100-80g", "A100-80G", 80'000'000'000},
      {"l40s", "L40S", 48'000'000'000},
  };
  return presets;
}

absl::StatusOr<GpuSpec> FindGpuPreset(const std::string& name) {
  std::string names;
  for (const GpuSpec& g : GpuPresets()) {
    if (g.name == name) return g;
    absl::StrAppend(&names, names.empty() ? "" : ", ", g.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown GPU '", name, "' (presets: ", names, ")"));
}

}  // namespace sy::planning
