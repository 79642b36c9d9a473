// The gpt-oss parts of `make-model` (model_writer.h): config.json fields (layer_types alternating
// sliding and full attention, YaRN, swiglu_limit), the tensors of a layer (q/k/v/o with biases,
// sinks, the router with its bias, the fused experts with their biases) and the MXFP4 form
// OpenAI publishes the experts in (gate_up_proj_blocks / _scales, down_proj_blocks / _scales).
#ifndef SWITCHYARD_CORE_MODEL_GPT_OSS_WRITER_H_
#define SWITCHYARD_CORE_MODEL_GPT_OSS_WRITER_H_

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/model/model_writer.h"

namespace sy {

// Adds GptOssConfig's fields (and quantization_config when spec.mxfp4) to `config`.
void AddGptOssConfig(const ModelSpec& spec, nlohmann::json& config);

// Appends layer tensors under `prefix` ("model.layers.N"), after its input_layernorm.
void AddGptOssLayer(const ModelSpec& spec, const std::string& prefix,
                    std::vector<TensorLayout>& out);

// Whether an MXFP4 checkpoint stores tensor `name` as blocks and scales (the fused experts).
bool IsMxfp4Tensor(const std::string& name);

// A fused expert tensor as transformers holds it, f32 [E, in, out], in OpenAI's MXFP4 form:
// {blocks u8 [E, out, in / 32, 16], scales u8 [E, out, in / 32]}, each block's scale the power
// of two that brings its largest magnitude to at most 6, values rounded to the nearest e2m1.
absl::StatusOr<std::pair<Tensor, Tensor>> QuantizeMxfp4(const Tensor& fused);

absl::Status ValidateGptOssSpec(const ModelSpec& spec);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_GPT_OSS_WRITER_H_
