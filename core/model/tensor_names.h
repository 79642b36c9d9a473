// Where each architecture keeps a MoE block's tensors in a Hugging Face checkpoint, shared by
// the CPU model (moe_model.cc) and the GPU one (cuda_network_weights.cc).
#ifndef SWITCHYARD_CORE_MODEL_TENSOR_NAMES_H_
#define SWITCHYARD_CORE_MODEL_TENSOR_NAMES_H_

#include <cstdint>
#include <string>

#include "core/model/model_config.h"

namespace sy {

// Expert e's gate weight is prefix + "experts.<e>." + gate + ".weight", and so on; the router
// is prefix + router + ".weight"; the shared expert's projections are under prefix + shared.
struct ExpertNames {
  std::string prefix, router, gate, up, down;
  std::string shared = "shared_expert.";
};

ExpertNames ExpertNaming(Architecture arch, int64_t layer);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_TENSOR_NAMES_H_
