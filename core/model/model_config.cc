#include "core/model/model_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/arch_config.h"
#include "core/model/config_fields.h"

namespace sy {
namespace {

// Per-architecture config keys and the defaults of its transformers config class.
struct ArchTraits {
  Architecture arch;
  const char* name;
  const char* experts_key;
  double rope_theta;
  double rms_norm_eps;
  int64_t max_position_embeddings;
  bool norm_topk_prob;
  QkNorm qk_norm;
  bool qwen;                    // moe_intermediate_size, decoder_sparse_step, mlp_only_layers
  bool attention_bias = false;  // the default of attention_bias
};

constexpr ArchTraits kArchs[] = {
    {Architecture::kMixtral, "MixtralForCausalLM", "num_local_experts", 1e6, 1e-5, 131072, true,
     QkNorm::kNone, false},
    {Architecture::kQwen2Moe, "Qwen2MoeForCausalLM", "num_experts", 10000, 1e-6, 32768, false,
     QkNorm::kNone, true},
    {Architecture::kQwen3Moe, "Qwen3MoeForCausalLM", "num_experts", 10000, 1e-6, 32768, false,
     QkNorm::kPerHead, true},
    {Architecture::kOlmoe, "OlmoeForCausalLM", "num_experts", 10000, 1e-5, 4096, false,
     QkNorm::kAcrossHeads, false},
    {Architecture::kDeepseekV3, "DeepseekV3ForCausalLM", "n_routed_experts", 10000, 1e-6, 4096,
     true, QkNorm::kNone, false},
    {Architecture::kGptOss, "GptOssForCausalLM", "num_local_experts", 150000, 1e-5, 131072, true,
     QkNorm::kNone, false, true},
};

absl::StatusOr<const ArchTraits*> FindArchitecture(const nlohmann::json& json,
                                                   const std::string& source) {
  std::string supported;
  for (const ArchTraits& a : kArchs)
    absl::StrAppend(&supported, supported.empty() ? "" : ", ", a.name);
  const auto it = json.is_object() ? json.find("architectures") : json.end();
  if (it == json.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": missing required field 'architectures' (a list naming one of ", supported, ")"));
  }
  const std::string name = (*it)[0].get<std::string>();
  for (const ArchTraits& a : kArchs) {
    if (name == a.name) return &a;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": unknown architecture '", name, "'; supported: ", supported));
}

absl::Status ReadSizes(const ConfigFields& f, const ArchTraits& a, ModelConfig& c) {
  SY_ASSIGN_OR_RETURN(c.hidden_size, f.PositiveInt("hidden_size"));
  SY_ASSIGN_OR_RETURN(c.intermediate_size, f.PositiveInt("intermediate_size"));
  if (a.qwen || a.arch == Architecture::kDeepseekV3) {
    SY_ASSIGN_OR_RETURN(c.moe_intermediate_size, f.PositiveInt("moe_intermediate_size"));
  }
  if (a.arch == Architecture::kQwen2Moe) {
    SY_ASSIGN_OR_RETURN(c.shared_expert_intermediate_size,
                        f.PositiveInt("shared_expert_intermediate_size"));
  }
  SY_ASSIGN_OR_RETURN(c.num_hidden_layers, f.PositiveInt("num_hidden_layers"));
  SY_ASSIGN_OR_RETURN(c.num_attention_heads, f.PositiveInt("num_attention_heads"));
  SY_ASSIGN_OR_RETURN(c.vocab_size, f.PositiveInt("vocab_size"));
  SY_ASSIGN_OR_RETURN(c.num_experts, f.PositiveInt(a.experts_key));
  SY_ASSIGN_OR_RETURN(c.num_experts_per_tok, f.PositiveInt("num_experts_per_tok"));
  // transformers treats a missing num_key_value_heads (None) as plain multi-head attention.
  c.num_key_value_heads = c.num_attention_heads;
  if (f.Has("num_key_value_heads")) {
    SY_ASSIGN_OR_RETURN(c.num_key_value_heads, f.PositiveInt("num_key_value_heads"));
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  if (f.Has("head_dim")) {
    SY_ASSIGN_OR_RETURN(c.head_dim, f.PositiveInt("head_dim"));
  } else if (c.hidden_size % c.num_attention_heads != 0) {
    return f.Error("hidden_size", absl::StrCat("(", c.hidden_size, ") is not a multiple of ",
                                               "num_attention_heads (", c.num_attention_heads,
                                               ") and head_dim is not given"));
  }
  c.max_position_embeddings = a.max_position_embeddings;
  if (f.Has("max_position_embeddings")) {
    SY_ASSIGN_OR_RETURN(c.max_position_embeddings, f.PositiveInt("max_position_embeddings"));
  }
  return absl::OkStatus();
}

// rope_parameters (transformers 5, which also carries rope_theta) or rope_scaling.
const nlohmann::json* RopeObject(const nlohmann::json& json, std::string& key) {
  for (const char* k : {"rope_parameters", "rope_scaling"}) {
    const auto it = json.find(k);
    if (it != json.end() && !it->is_null()) {
      key = k;
      return &*it;
    }
  }
  return nullptr;
}

absl::Status ReadYarn(const ConfigFields& f, RopeScaling& r) {
  SY_ASSIGN_OR_RETURN(r.original_max_position_embeddings,
                      f.OptionalNumber("original_max_position_embeddings"));
  SY_ASSIGN_OR_RETURN(std::optional<double> beta_fast, f.OptionalNumber("beta_fast"));
  SY_ASSIGN_OR_RETURN(std::optional<double> beta_slow, f.OptionalNumber("beta_slow"));
  SY_ASSIGN_OR_RETURN(std::optional<double> mscale, f.OptionalNumber("mscale"));
  SY_ASSIGN_OR_RETURN(std::optional<double> mscale_all_dim, f.OptionalNumber("mscale_all_dim"));
  SY_ASSIGN_OR_RETURN(r.attention_factor, f.OptionalNumber("attention_factor"));
  SY_ASSIGN_OR_RETURN(std::optional<bool> truncate, f.OptionalBool("truncate"));
  // transformers reads beta_* with `or`, so 0 also means the default.
  r.beta_fast = beta_fast.value_or(0) != 0 ? *beta_fast : 32;
  r.beta_slow = beta_slow.value_or(0) != 0 ? *beta_slow : 1;
  r.mscale = mscale.value_or(0);
  r.mscale_all_dim = mscale_all_dim.value_or(0);
  r.truncate = truncate.value_or(true);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<RopeScaling>> ReadRopeScaling(const nlohmann::json& json,
                                                           const std::string& source,
                                                           std::optional<double>& theta) {
  std::string key;
  const nlohmann::json* rope = RopeObject(json, key);
  if (rope == nullptr) return std::nullopt;
  if (!rope->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field '", key, "' must be an object, got ", rope->type_name()));
  }
  const ConfigFields f(*rope, absl::StrCat(source, ": ", key));
  RopeScaling r;
  SY_ASSIGN_OR_RETURN(std::optional<std::string> type, f.OptionalString("rope_type"));
  if (!type) {
    SY_ASSIGN_OR_RETURN(type, f.OptionalString("type"));
  }
  SY_ASSIGN_OR_RETURN(std::optional<double> factor, f.OptionalNumber("factor"));
  SY_ASSIGN_OR_RETURN(std::optional<double> rope_theta, f.OptionalNumber("rope_theta"));
  if (!theta) theta = rope_theta;
  r.type = type.value_or("default");
  r.factor = factor.value_or(1.0);
  if (r.type == "yarn") SY_RETURN_IF_ERROR(ReadYarn(f, r));
  return r;
}

absl::Status ReadNumbers(const nlohmann::json& json, const std::string& source,
                         const ConfigFields& f, const ArchTraits& a, ModelConfig& c) {
  SY_ASSIGN_OR_RETURN(std::optional<double> eps, f.OptionalNumber("rms_norm_eps"));
  SY_ASSIGN_OR_RETURN(std::optional<double> theta, f.OptionalNumber("rope_theta"));
  SY_ASSIGN_OR_RETURN(c.rope_scaling, ReadRopeScaling(json, source, theta));
  c.rms_norm_eps = eps.value_or(a.rms_norm_eps);
  c.rope_theta = theta.value_or(a.rope_theta);
  if (c.rms_norm_eps <= 0) return f.Error("rms_norm_eps", "must be positive");
  if (c.rope_theta <= 0) return f.Error("rope_theta", "must be positive");
  return absl::OkStatus();
}

absl::Status ReadRouting(const ConfigFields& f, const ArchTraits& a, ModelConfig& c) {
  if (c.num_experts_per_tok > c.num_experts) {
    return f.Error("num_experts_per_tok",
                   absl::StrCat("(", c.num_experts_per_tok, ") exceeds the number of experts (",
                                c.num_experts, ")"));
  }
  SY_ASSIGN_OR_RETURN(std::optional<bool> norm, f.OptionalBool("norm_topk_prob"));
  c.norm_topk_prob = norm.value_or(a.norm_topk_prob);
  if (!a.qwen) return absl::OkStatus();
  if (f.Has("decoder_sparse_step")) {
    SY_ASSIGN_OR_RETURN(c.decoder_sparse_step, f.PositiveInt("decoder_sparse_step"));
  }
  SY_ASSIGN_OR_RETURN(c.mlp_only_layers, f.IntList("mlp_only_layers"));
  for (int64_t layer : c.mlp_only_layers) {
    if (layer < 0 || layer >= c.num_hidden_layers) {
      return f.Error("mlp_only_layers",
                     absl::StrCat("names layer ", layer, " of ", c.num_hidden_layers));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadAttentionAndTokens(const ConfigFields& f, const ArchTraits& a, ModelConfig& c) {
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.Error("num_key_value_heads",
                   absl::StrCat("(", c.num_key_value_heads, ") must divide num_attention_heads (",
                                c.num_attention_heads, ")"));
  }
  c.qk_norm = a.qk_norm;
  // Qwen2-MoE's attention always has q/k/v biases; the others read attention_bias.
  SY_ASSIGN_OR_RETURN(std::optional<bool> bias, f.OptionalBool("attention_bias"));
  c.attention_bias = a.arch == Architecture::kQwen2Moe || bias.value_or(a.attention_bias);
  SY_ASSIGN_OR_RETURN(std::optional<bool> tie, f.OptionalBool("tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);
  SY_ASSIGN_OR_RETURN(c.bos_token_id, f.OptionalInt("bos_token_id"));
  SY_ASSIGN_OR_RETURN(c.eos_token_ids, f.IntList("eos_token_id"));
  SY_ASSIGN_OR_RETURN(std::optional<std::string> dtype, f.OptionalString("torch_dtype"));
  c.torch_dtype = dtype.value_or("");
  return absl::OkStatus();
}

}  // namespace

const char* ArchitectureName(Architecture arch) {
  for (const ArchTraits& a : kArchs) {
    if (a.arch == arch) return a.name;
  }
  return "unknown";
}

bool ModelConfig::IsMoeLayer(int64_t layer) const {
  if (architecture == Architecture::kDeepseekV3) return layer >= first_k_dense_replace;
  if (architecture != Architecture::kQwen2Moe && architecture != Architecture::kQwen3Moe) {
    return true;
  }
  const bool forced_dense =
      std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end();
  return !forced_dense && (layer + 1) % decoder_sparse_step == 0;
}

int64_t ModelConfig::SlidingWindow(int64_t layer) const {
  const bool sliding =
      layer >= 0 && layer < static_cast<int64_t>(sliding_layers.size()) && sliding_layers[layer];
  return sliding ? sliding_window : 0;
}

int64_t ModelConfig::expert_intermediate_size() const {
  return moe_intermediate_size > 0 ? moe_intermediate_size : intermediate_size;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& json,
                                             const std::string& source) {
  SY_ASSIGN_OR_RETURN(const ArchTraits* arch, FindArchitecture(json, source));
  const ConfigFields fields(json, source, arch->name);
  ModelConfig c;
  c.architecture = arch->arch;
  SY_RETURN_IF_ERROR(ReadSizes(fields, *arch, c));
  SY_RETURN_IF_ERROR(ReadNumbers(json, source, fields, *arch, c));
  SY_RETURN_IF_ERROR(ReadRouting(fields, *arch, c));
  SY_RETURN_IF_ERROR(ReadAttentionAndTokens(fields, *arch, c));
  SY_ASSIGN_OR_RETURN(c.quantization, ReadWeightQuantization(json, source));
  if (c.architecture == Architecture::kDeepseekV3)
    SY_RETURN_IF_ERROR(ReadDeepseekV3Fields(fields, c));
  if (c.architecture == Architecture::kGptOss)
    SY_RETURN_IF_ERROR(ReadGptOssFields(json, fields, c));
  return c;
}

absl::StatusOr<GenerationConfig> ParseGenerationConfig(const nlohmann::json& json,
                                                       const std::string& source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  const ConfigFields f(json, source);
  GenerationConfig g;
  SY_ASSIGN_OR_RETURN(g.bos_token_id, f.OptionalInt("bos_token_id"));
  SY_ASSIGN_OR_RETURN(g.eos_token_ids, f.IntList("eos_token_id"));
  SY_ASSIGN_OR_RETURN(g.temperature, f.OptionalNumber("temperature"));
  SY_ASSIGN_OR_RETURN(g.top_p, f.OptionalNumber("top_p"));
  SY_ASSIGN_OR_RETURN(g.top_k, f.OptionalInt("top_k"));
  SY_ASSIGN_OR_RETURN(g.max_new_tokens, f.OptionalInt("max_new_tokens"));
  return g;
}

}  // namespace sy
