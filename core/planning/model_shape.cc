#include "core/planning/model_shape.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/config_fields.h"

namespace sy::planning {
namespace {

struct FamilyInfo {
  Family family;
  const char* architecture;
  const char* model_type;
};

// Kimi-K2's config names the DeepSeek-V3 class with its own model_type.
constexpr FamilyInfo kFamilies[] = {
    {Family::kMixtral, "MixtralForCausalLM", "mixtral"},
    {Family::kQwen2Moe, "Qwen2MoeForCausalLM", "qwen2_moe"},
    {Family::kQwen3Moe, "Qwen3MoeForCausalLM", "qwen3_moe"},
    {Family::kOlmoe, "OlmoeForCausalLM", "olmoe"},
    {Family::kDeepseekV2, "DeepseekV2ForCausalLM", "deepseek_v2"},
    {Family::kDeepseekV3, "DeepseekV3ForCausalLM", "deepseek_v3"},
    {Family::kDeepseekV3, "DeepseekV3ForCausalLM", "kimi_k2"},
    {Family::kGptOss, "GptOssForCausalLM", "gpt_oss"},
};

// The family named by "architectures" (the class transformers instantiates), else by
// "model_type".
absl::StatusOr<const FamilyInfo*> FindFamily(const nlohmann::json& json,
                                             const std::string& source) {
  std::string supported;
  for (const FamilyInfo& f : kFamilies) {
    if (supported.find(f.architecture) == std::string::npos)
      absl::StrAppend(&supported, supported.empty() ? "" : ", ", f.architecture);
  }
  const auto archs = json.find("architectures");
  if (archs != json.end() && archs->is_array() && !archs->empty() && (*archs)[0].is_string()) {
    const std::string name = (*archs)[0].get<std::string>();
    for (const FamilyInfo& f : kFamilies) {
      if (name == f.architecture) return &f;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": unknown architecture '", name, "'; supported: ", supported));
  }
  const auto type = json.find("model_type");
  if (type != json.end() && type->is_string()) {
    for (const FamilyInfo& f : kFamilies) {
      if (type->get<std::string>() == f.model_type) return &f;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": missing required field 'architectures' (a list naming one of ", supported, ")"));
}

bool IsDeepseek(Family f) { return f == Family::kDeepseekV2 || f == Family::kDeepseekV3; }

absl::Status ReadCommon(const ConfigFields& f, ModelShape& s) {
  SY_ASSIGN_OR_RETURN(s.hidden_size, f.PositiveInt("hidden_size"));
  SY_ASSIGN_OR_RETURN(s.num_layers, f.PositiveInt("num_hidden_layers"));
  SY_ASSIGN_OR_RETURN(s.num_heads, f.PositiveInt("num_attention_heads"));
  SY_ASSIGN_OR_RETURN(s.vocab_size, f.PositiveInt("vocab_size"));
  if (f.Has("max_position_embeddings")) {
    SY_ASSIGN_OR_RETURN(s.max_position_embeddings, f.PositiveInt("max_position_embeddings"));
  }
  SY_ASSIGN_OR_RETURN(std::optional<bool> tie, f.OptionalBool("tie_word_embeddings"));
  s.tie_word_embeddings = tie.value_or(false);
  s.moe_layer.assign(s.num_layers, true);
  s.attention_window.assign(s.num_layers, 0);
  return absl::OkStatus();
}

// num_key_value_heads and head_dim of grouped-query attention.
absl::Status ReadGqa(const ConfigFields& f, ModelShape& s) {
  s.num_kv_heads = s.num_heads;
  if (f.Has("num_key_value_heads")) {
    SY_ASSIGN_OR_RETURN(s.num_kv_heads, f.PositiveInt("num_key_value_heads"));
  }
  if (s.num_heads % s.num_kv_heads != 0) {
    return f.Error(
        "num_key_value_heads",
        absl::StrCat("(", s.num_kv_heads, ") must divide num_attention_heads (", s.num_heads, ")"));
  }
  if (f.Has("head_dim")) {
    SY_ASSIGN_OR_RETURN(s.head_dim, f.PositiveInt("head_dim"));
  } else if (s.hidden_size % s.num_heads != 0) {
    return f.Error("hidden_size", absl::StrCat("(", s.hidden_size, ") is not a multiple of ",
                                               "num_attention_heads (", s.num_heads,
                                               ") and head_dim is not given"));
  } else {
    s.head_dim = s.hidden_size / s.num_heads;
  }
  return absl::OkStatus();
}

absl::Status ReadLatentAttention(const ConfigFields& f, ModelShape& s) {
  LatentAttention mla;
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> q_lora, f.OptionalInt("q_lora_rank"));
  if (q_lora) {
    SY_ASSIGN_OR_RETURN(mla.q_lora_rank, f.PositiveInt("q_lora_rank"));
  }
  SY_ASSIGN_OR_RETURN(mla.kv_lora_rank, f.PositiveInt("kv_lora_rank"));
  SY_ASSIGN_OR_RETURN(mla.qk_nope_head_dim, f.PositiveInt("qk_nope_head_dim"));
  SY_ASSIGN_OR_RETURN(mla.qk_rope_head_dim, f.PositiveInt("qk_rope_head_dim"));
  SY_ASSIGN_OR_RETURN(mla.v_head_dim, f.PositiveInt("v_head_dim"));
  s.mla = mla;
  return absl::OkStatus();
}

absl::Status ReadAttention(const ConfigFields& f, ModelShape& s) {
  if (IsDeepseek(s.family)) {
    SY_RETURN_IF_ERROR(ReadLatentAttention(f, s));
  } else {
    SY_RETURN_IF_ERROR(ReadGqa(f, s));
  }
  // gpt-oss's config class defaults attention_bias to true, the others to false; Qwen2-MoE
  // always has q/k/v biases and never an o_proj bias.
  SY_ASSIGN_OR_RETURN(std::optional<bool> bias, f.OptionalBool("attention_bias"));
  const bool attention_bias = bias.value_or(s.family == Family::kGptOss);
  s.qkv_bias = s.family == Family::kQwen2Moe || attention_bias;
  s.o_bias = s.family != Family::kQwen2Moe && attention_bias;
  s.attention_sinks = s.family == Family::kGptOss;
  if (s.family == Family::kQwen3Moe) s.qk_norm = QkNorm::kPerHead;
  if (s.family == Family::kOlmoe) s.qk_norm = QkNorm::kAcrossHeads;
  return absl::OkStatus();
}

// Sliding-window layers: "layer_types" when the config lists them, else the family's rule.
absl::Status ReadWindows(const nlohmann::json& json, const ConfigFields& f, ModelShape& s) {
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> window, f.OptionalInt("sliding_window"));
  auto require_window = [&]() -> absl::StatusOr<int64_t> {
    return f.PositiveInt("sliding_window");
  };
  const auto types = json.find("layer_types");
  if (types != json.end() && !types->is_null()) {
    if (!types->is_array() || static_cast<int64_t>(types->size()) != s.num_layers) {
      return f.Error("layer_types",
                     absl::StrCat("must list one attention type per layer (", s.num_layers, ")"));
    }
    for (int64_t layer = 0; layer < s.num_layers; ++layer) {
      const nlohmann::json& t = (*types)[layer];
      if (t == "full_attention") continue;
      if (t != "sliding_attention") {
        return f.Error("layer_types", absl::StrCat("has unsupported attention type ", t.dump(),
                                                   " at layer ", layer));
      }
      SY_ASSIGN_OR_RETURN(s.attention_window[layer], require_window());
    }
    return absl::OkStatus();
  }
  if (s.family == Family::kMixtral && window) {
    SY_ASSIGN_OR_RETURN(const int64_t w, require_window());
    s.attention_window.assign(s.num_layers, w);
  } else if (s.family == Family::kQwen2Moe || s.family == Family::kQwen3Moe) {
    // Qwen: with use_sliding_window, layers from max_window_layers on use the window.
    SY_ASSIGN_OR_RETURN(std::optional<bool> use, f.OptionalBool("use_sliding_window"));
    SY_ASSIGN_OR_RETURN(std::optional<int64_t> full_layers, f.OptionalInt("max_window_layers"));
    if (use.value_or(false)) {
      SY_ASSIGN_OR_RETURN(const int64_t w, require_window());
      for (int64_t layer = full_layers.value_or(28); layer < s.num_layers; ++layer)
        s.attention_window[layer] = w;
    }
  } else if (s.family == Family::kGptOss) {
    // GptOssConfig's default: sliding and full attention alternate, starting with sliding.
    SY_ASSIGN_OR_RETURN(const int64_t w, require_window());
    for (int64_t layer = 0; layer < s.num_layers; layer += 2) s.attention_window[layer] = w;
  }
  return absl::OkStatus();
}

// Qwen: every decoder_sparse_step-th layer is MoE unless mlp_only_layers names it.
absl::Status ReadQwenLayers(const ConfigFields& f, ModelShape& s) {
  int64_t step = 1;
  if (f.Has("decoder_sparse_step")) {
    SY_ASSIGN_OR_RETURN(step, f.PositiveInt("decoder_sparse_step"));
  }
  SY_ASSIGN_OR_RETURN(std::vector<int64_t> dense, f.IntList("mlp_only_layers"));
  for (int64_t layer = 0; layer < s.num_layers; ++layer)
    s.moe_layer[layer] = (layer + 1) % step == 0;
  for (int64_t layer : dense) {
    if (layer < 0 || layer >= s.num_layers) {
      return f.Error("mlp_only_layers", absl::StrCat("names layer ", layer, " of ", s.num_layers));
    }
    s.moe_layer[layer] = false;
  }
  return absl::OkStatus();
}

// DeepSeek: the first first_k_dense_replace layers are dense, then every moe_layer_freq-th.
absl::Status ReadDeepseekLayers(const ConfigFields& f, ModelShape& s) {
  const bool v3 = s.family == Family::kDeepseekV3;
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> first_dense, f.OptionalInt("first_k_dense_replace"));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> freq, f.OptionalInt("moe_layer_freq"));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> shared, f.OptionalInt("n_shared_experts"));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> mtp, f.OptionalInt("num_nextn_predict_layers"));
  if (freq.value_or(1) < 1) return f.Error("moe_layer_freq", "must be positive");
  for (const auto& [key, value] : {std::pair{"first_k_dense_replace", first_dense},
                                   {"n_shared_experts", shared},
                                   {"num_nextn_predict_layers", mtp}}) {
    if (value.value_or(0) < 0) return f.Error(key, "must not be negative");
  }
  for (int64_t layer = 0; layer < s.num_layers; ++layer) {
    s.moe_layer[layer] = layer >= first_dense.value_or(v3 ? 3 : 0) && layer % freq.value_or(1) == 0;
  }
  s.shared_intermediate_size = shared.value_or(v3 ? 1 : 0) * s.expert_intermediate_size;
  s.mtp_layers = mtp.value_or(0);
  s.score_correction_bias = v3;
  return absl::OkStatus();
}

absl::Status ReadFeedForward(const ConfigFields& f, ModelShape& s) {
  const bool qwen = s.family == Family::kQwen2Moe || s.family == Family::kQwen3Moe;
  const char* experts_key = "num_experts";
  if (s.family == Family::kMixtral || s.family == Family::kGptOss)
    experts_key = "num_local_experts";
  if (IsDeepseek(s.family)) experts_key = "n_routed_experts";
  SY_ASSIGN_OR_RETURN(s.num_experts, f.PositiveInt(experts_key));
  SY_ASSIGN_OR_RETURN(s.experts_per_token, f.PositiveInt("num_experts_per_tok"));
  if (s.experts_per_token > s.num_experts) {
    return f.Error("num_experts_per_tok",
                   absl::StrCat("(", s.experts_per_token, ") exceeds the number of experts (",
                                s.num_experts, ")"));
  }
  if (qwen || IsDeepseek(s.family)) {
    SY_ASSIGN_OR_RETURN(s.dense_intermediate_size, f.PositiveInt("intermediate_size"));
    SY_ASSIGN_OR_RETURN(s.expert_intermediate_size, f.PositiveInt("moe_intermediate_size"));
  } else {
    SY_ASSIGN_OR_RETURN(s.expert_intermediate_size, f.PositiveInt("intermediate_size"));
  }
  if (qwen) SY_RETURN_IF_ERROR(ReadQwenLayers(f, s));
  if (IsDeepseek(s.family)) SY_RETURN_IF_ERROR(ReadDeepseekLayers(f, s));
  if (s.family == Family::kQwen2Moe) {
    SY_ASSIGN_OR_RETURN(s.shared_intermediate_size,
                        f.PositiveInt("shared_expert_intermediate_size"));
    s.shared_expert_gate = true;
  }
  if (s.family == Family::kGptOss) {
    s.router_bias = s.expert_biases = s.fused_gate_up = true;
  }
  return absl::OkStatus();
}

absl::Status ReadCheckpointFormat(const nlohmann::json& json, const std::string& source,
                                  ModelShape& s) {
  const auto q = json.find("quantization_config");
  if (q == json.end() || q->is_null()) return absl::OkStatus();
  if (!q->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": field 'quantization_config' must be an object, got ", q->type_name()));
  }
  const ConfigFields f(*q, absl::StrCat(source, ": quantization_config"));
  SY_ASSIGN_OR_RETURN(std::optional<std::string> method, f.OptionalString("quant_method"));
  s.checkpoint_quant_method = method.value_or("");
  if (s.checkpoint_quant_method == "fp8") {
    s.checkpoint_precision = WeightPrecision::kFp8;
    s.checkpoint_scope = QuantScope::kLinear;
  } else if (s.checkpoint_quant_method == "mxfp4") {
    s.checkpoint_precision = WeightPrecision::kMxfp4;
    s.checkpoint_scope = QuantScope::kExperts;
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ModelShape::MoeLayerCount() const {
  return std::count(moe_layer.begin(), moe_layer.end(), true);
}

absl::StatusOr<ModelShape> ParseModelShape(const nlohmann::json& config,
                                           const std::string& source) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  SY_ASSIGN_OR_RETURN(const FamilyInfo* family, FindFamily(config, source));
  const ConfigFields fields(config, source, family->architecture);
  ModelShape s;
  s.name = s.source = source;
  s.architecture = family->architecture;
  s.family = family->family;
  SY_RETURN_IF_ERROR(ReadCommon(fields, s));
  SY_RETURN_IF_ERROR(ReadAttention(fields, s));
  SY_RETURN_IF_ERROR(ReadWindows(config, fields, s));
  SY_RETURN_IF_ERROR(ReadFeedForward(fields, s));
  SY_RETURN_IF_ERROR(ReadCheckpointFormat(config, source, s));
  return s;
}

absl::StatusOr<ModelShape> LoadModelShape(const std::string& path) {
  const std::string file = std::filesystem::is_directory(path)
                               ? (std::filesystem::path(path) / "config.json").string()
                               : path;
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open the file"));
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON"));
  SY_ASSIGN_OR_RETURN(ModelShape shape, ParseModelShape(json, file));
  const std::string folder =
      std::filesystem::absolute(file).lexically_normal().parent_path().filename().string();
  if (!folder.empty()) shape.name = folder;
  return shape;
}

}  // namespace sy::planning
