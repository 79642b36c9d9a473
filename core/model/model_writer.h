// Writes small Hugging Face MoE checkpoints with random weights, for tests and benchmarks
// (`switchyard make-model`): config.json and generation_config.json with the fields and names
// transformers' config class for the architecture uses, model.safetensors (or N shards and
// model.safetensors.index.json) with the tensor names transformers loads, and a byte-level
// BPE tokenizer.json whose merges are learned from a built-in English sample text.
//
// Weights are N(0, init_std) and norm weights exactly 1, in f32 or bf16; every tensor's values
// depend only on the seed and its position in the layout, so a spec always writes the same bytes.
#ifndef SWITCHYARD_CORE_MODEL_MODEL_WRITER_H_
#define SWITCHYARD_CORE_MODEL_MODEL_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/model_config.h"
#include "core/tensor/tensor.h"

namespace sy {

struct ModelSpec {
  Architecture arch = Architecture::kMixtral;
  int64_t layers = 2;
  int64_t hidden = 64;
  int64_t intermediate = 128;            // each expert's width
  int64_t shared_intermediate = 0;       // Qwen2-MoE's shared expert
  int64_t dense_intermediate = 0;        // Qwen: dense MLP width (config's intermediate_size)
  std::vector<int64_t> mlp_only_layers;  // Qwen: layers with a dense MLP instead of experts
  int64_t experts = 8;
  int64_t top_k = 2;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 0;  // 0: hidden / heads (Qwen2-MoE and OLMoE allow nothing else)
  int64_t vocab = 512;   // at least 256 byte tokens + the family's special tokens
  int64_t max_position_embeddings = 4096;
  double rope_theta = 10000;
  double rms_norm_eps = 1e-6;
  bool tie_embeddings = false;
  DType dtype = DType::kF32;  // kF32 or kBF16
  int64_t shards = 1;         // > 1: model-0000i-of-0000N.safetensors + an index
  uint64_t seed = 0;
  double init_std = 0.02;

  // DeepSeek-V3 (deepseek_v3_writer.h).
  int64_t q_lora_rank = 0;  // 0: a plain q_proj (q_lora_rank null)
  int64_t kv_lora_rank = 16;
  int64_t qk_nope_head_dim = 16;
  int64_t qk_rope_head_dim = 8;
  int64_t v_head_dim = 16;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t n_shared_experts = 1;
  int64_t first_k_dense_replace = 0;
  double routed_scaling_factor = 1.0;
  double yarn_factor = 0;  // > 0: YaRN rope_scaling over max_position_embeddings / yarn_factor
  bool fp8 = false;        // layer projections as fp8 e4m3 + f32 weight_scale_inv per 128x128 block

  // gpt-oss (gpt_oss_writer.h).
  int64_t sliding_window = 4;
  bool mxfp4 = false;  // experts as MXFP4 blocks and scales, as OpenAI publishes them

  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden / heads; }
};

// "tiny-mixtral", "tiny-qwen2-moe", "tiny-qwen3-moe", "tiny-olmoe": two layers, hidden 64,
// 8 experts, top-2, 4 heads, 2 KV heads, vocab 512. "tiny-deepseek-v3": three layers (the first
// dense), MLA with q LoRA 32, kv LoRA 16, YaRN x4, 8 experts in 4 groups (2 kept), a shared
// expert. "tiny-gpt-oss": two layers (sliding window 4, then full), sinks, 8 experts with biases,
// top-2, 4 heads, 2 KV heads.
std::vector<std::string> PresetNames();
absl::StatusOr<ModelSpec> Preset(absl::string_view name);
// The tiny preset of `arch`.
ModelSpec DefaultPreset(Architecture arch);

// config.json's model_type: "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3",
// "gpt_oss".
const char* ModelType(Architecture arch);
absl::StatusOr<Architecture> ArchitectureFromModelType(absl::string_view model_type);

// InvalidArgument naming the ModelSpec field that is out of range.
absl::Status ValidateModelSpec(const ModelSpec& spec);

struct TensorLayout {
  std::string name;
  Shape shape;
  bool norm;  // initialized to 1 rather than random
};

// Every tensor the checkpoint holds, in the order written.
std::vector<TensorLayout> ModelTensors(const ModelSpec& spec);

struct WrittenFile {
  std::string name;  // relative to the model directory
  int64_t bytes = 0;
  int64_t tensors = 0;
  int64_t parameters = 0;
};

// Writes the model into `dir`, which is created and must not hold files already (stale
// shards would be read as part of the new model). Returns the files written.
absl::StatusOr<std::vector<WrittenFile>> WriteModel(const ModelSpec& spec, const std::string& dir);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_MODEL_WRITER_H_
