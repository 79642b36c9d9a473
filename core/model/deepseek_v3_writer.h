// The DeepSeek-V3 parts of `make-model` (model_writer.h): config.json fields, the tensors of a
// layer (MLA attention; a dense MLP in the first first_k_dense_replace layers, else the router
// with its e_score_correction_bias, the routed experts and the shared experts), and the fp8
// block-128 form the published checkpoints use (an e4m3 weight plus f32 weight_scale_inv).
#ifndef SWITCHYARD_CORE_MODEL_DEEPSEEK_V3_WRITER_H_
#define SWITCHYARD_CORE_MODEL_DEEPSEEK_V3_WRITER_H_

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/model/model_writer.h"

namespace sy {

// Adds DeepseekV3Config's fields (and quantization_config when spec.fp8) to `config`.
void AddDeepseekV3Config(const ModelSpec& spec, nlohmann::json& config);

// Appends layer `layer`'s attention and feed-forward tensors under `prefix` ("model.layers.N").
void AddDeepseekV3Layer(const ModelSpec& spec, int64_t layer, const std::string& prefix,
                        std::vector<TensorLayout>& out);

// Whether a fp8 checkpoint stores tensor `name` as e4m3 (the layers' *_proj.weight matrices;
// embeddings, norms, the router and the LM head stay in full precision).
bool IsFp8Weight(const std::string& name);

// w (f32 [rows, cols]) -> {e4m3 [rows, cols], f32 scale_inv [ceil(rows/128), ceil(cols/128)]}
// with each block scaled so its largest magnitude maps to 448.
absl::StatusOr<std::pair<Tensor, Tensor>> QuantizeFp8Blocks(const Tensor& w);

// The SpecErrors of a DeepSeek-V3 spec (MLA sizes, n_group dividing the experts, ...).
absl::Status ValidateDeepseekV3Spec(const ModelSpec& spec);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_DEEPSEEK_V3_WRITER_H_
