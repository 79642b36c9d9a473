// The config.json fields only some architectures have: DeepSeek-V3's latent attention and
// grouped routing, gpt-oss's attention layer types and expert activation, and the
// quantization_config of pre-quantized checkpoints. Used by ParseModelConfig; defaults are those
// of transformers' config classes (DeepseekV3Config, GptOssConfig).
#ifndef SWITCHYARD_CORE_MODEL_ARCH_CONFIG_H_
#define SWITCHYARD_CORE_MODEL_ARCH_CONFIG_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/model/config_fields.h"
#include "core/model/model_config.h"

namespace sy {

// MLA dimensions, n_group / topk_group (the expert count must split into n_group groups and k
// fit in the kept ones), routed_scaling_factor, n_shared_experts, first_k_dense_replace.
absl::Status ReadDeepseekV3Fields(const ConfigFields& f, ModelConfig& c);

// sliding_window (default 128), layer_types (one "sliding_attention" or "full_attention" per
// layer; default alternating, sliding first), swiglu_limit (default 7).
absl::Status ReadGptOssFields(const nlohmann::json& json, const ConfigFields& f, ModelConfig& c);

// quantization_config: quant_method "fp8" (weight_block_size [rows, cols], default [128, 128])
// or "mxfp4"; absent: nullopt; another method: an error naming it.
absl::StatusOr<std::optional<WeightQuantization>> ReadWeightQuantization(const nlohmann::json& json,
                                                                         const std::string& source);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_ARCH_CONFIG_H_
