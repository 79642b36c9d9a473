// gpt-oss's MoE block as the plugin pipeline wants it (MoeWeights): the router with its bias,
// and the experts — stored fused per layer, either as transformers saves them (gate_up_proj
// [E, H, 2I], down_proj [E, I, H], bf16/f32) or as OpenAI publishes them (gate_up_proj_blocks
// [E, 2I, H/32, 16] + _scales, down_proj_blocks [E, H, I/32, 16] + _scales, MXFP4, mxfp4.h) —
// turned into one [gate; up] [2I, H] and one down [H, I] matrix per expert. gpt-oss interleaves
// gate and up (gate = columns 0, 2, 4, ...; up = 1, 3, 5, ...), biases included; the activation
// is the clamped SwiGLU (alpha 1.702, limit swiglu_limit) with the biases.
#ifndef SWITCHYARD_CORE_MODEL_GPT_OSS_WEIGHTS_H_
#define SWITCHYARD_CORE_MODEL_GPT_OSS_WEIGHTS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/model/checkpoint.h"
#include "core/moe/moe_weights.h"

namespace sy {

// Layer `layer`'s MoE weights; errors name the tensor.
absl::StatusOr<MoeWeights> LoadGptOssMoeWeights(const Checkpoint& ckpt, int64_t layer);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_GPT_OSS_WEIGHTS_H_
