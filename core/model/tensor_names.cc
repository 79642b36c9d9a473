#include "core/model/tensor_names.h"

#include "absl/strings/str_cat.h"

namespace sy {

ExpertNames ExpertNaming(Architecture arch, int64_t layer) {
  const std::string base = absl::StrCat("model.layers.", layer, ".");
  if (arch == Architecture::kMixtral) return {base + "block_sparse_moe.", "gate", "w1", "w3", "w2"};
  if (arch == Architecture::kDeepseekV3) {
    return {base + "mlp.", "gate", "gate_proj", "up_proj", "down_proj", "shared_experts."};
  }
  return {base + "mlp.", "gate", "gate_proj", "up_proj", "down_proj"};
}

}  // namespace sy
