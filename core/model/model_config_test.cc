#include "core/model/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// Abridged from the published config.json files of each model.
Json Mixtral() {
  return Json::parse(R"({
    "architectures": ["MixtralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 32000, "max_position_embeddings": 32768, "rms_norm_eps": 1e-05,
    "rope_theta": 1000000.0, "num_local_experts": 8, "num_experts_per_tok": 2,
    "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "bfloat16", "sliding_window": null})");
}

Json Qwen2Moe() {
  return Json::parse(R"({
    "architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 2048, "intermediate_size": 5632,
    "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
    "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
    "vocab_size": 151936, "max_position_embeddings": 8192, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "num_experts": 60, "num_experts_per_tok": 4,
    "norm_topk_prob": false, "decoder_sparse_step": 1, "bos_token_id": 151643,
    "eos_token_id": 151643, "tie_word_embeddings": false})");
}

Json Qwen3Moe() {
  return Json::parse(R"({
    "architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 2048, "intermediate_size": 6144,
    "moe_intermediate_size": 768, "num_hidden_layers": 48, "num_attention_heads": 32,
    "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936,
    "max_position_embeddings": 40960, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "rope_scaling": null, "num_experts": 128, "num_experts_per_tok": 8, "norm_topk_prob": true,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "attention_bias": false,
    "eos_token_id": 151645, "tie_word_embeddings": false})");
}

Json Olmoe() {
  return Json::parse(R"({
    "architectures": ["OlmoeForCausalLM"], "hidden_size": 2048, "intermediate_size": 1024,
    "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 16,
    "vocab_size": 50304, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "num_experts": 64, "num_experts_per_tok": 8,
    "norm_topk_prob": false, "eos_token_id": 50279, "pad_token_id": 1,
    "tie_word_embeddings": false, "clip_qkv": null})");
}

std::string Error(const Json& json) {
  auto config = ParseModelConfig(json);
  EXPECT_FALSE(config.ok());
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(ModelConfigTest, Mixtral) {
  auto c = ParseModelConfig(Mixtral());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kMixtral);
  EXPECT_EQ(c->num_experts, 8);
  EXPECT_EQ(c->head_dim, 128);  // 4096 / 32
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->qk_norm, QkNorm::kNone);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->expert_intermediate_size(), 14336);
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  for (int layer = 0; layer < 32; ++layer) EXPECT_TRUE(c->IsMoeLayer(layer));
}

TEST(ModelConfigTest, Qwen2MoeHasASharedExpertAndBiases) {
  auto c = ParseModelConfig(Qwen2Moe());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kQwen2Moe);
  EXPECT_EQ(c->shared_expert_intermediate_size, 5632);
  EXPECT_EQ(c->expert_intermediate_size(), 1408);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_EQ(c->qk_norm, QkNorm::kNone);
  Json missing = Qwen2Moe();
  missing.erase("shared_expert_intermediate_size");
  EXPECT_EQ(Error(missing),
            "config.json: missing required field 'shared_expert_intermediate_size' "
            "(Qwen2MoeForCausalLM)");
}

TEST(ModelConfigTest, Qwen3MoeNormalizesQkPerHead) {
  auto c = ParseModelConfig(Qwen3Moe());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);  // explicit, not 2048 / 32
  EXPECT_EQ(c->qk_norm, QkNorm::kPerHead);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_FALSE(c->rope_scaling.has_value());
  EXPECT_FALSE(c->attention_bias);
  Json unset = Qwen3Moe();
  unset.erase("norm_topk_prob");
  EXPECT_FALSE(ParseModelConfig(unset)->norm_topk_prob);
}

TEST(ModelConfigTest, OlmoeNormalizesQkAcrossHeads) {
  auto c = ParseModelConfig(Olmoe());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kOlmoe);
  EXPECT_EQ(c->qk_norm, QkNorm::kAcrossHeads);
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_EQ(c->num_experts, 64);
  EXPECT_TRUE(c->IsMoeLayer(15));
}

TEST(ModelConfigTest, QwenSparseStepAndMlpOnlyLayers) {
  Json j = Qwen3Moe();
  j["num_hidden_layers"] = 6;
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {3};
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<bool> moe;
  for (int layer = 0; layer < 6; ++layer) moe.push_back(c->IsMoeLayer(layer));
  EXPECT_THAT(moe, ElementsAre(false, true, false, false, false, true));
  j["mlp_only_layers"] = {6};
  EXPECT_THAT(Error(j), HasSubstr("field 'mlp_only_layers' names layer 6 of 6"));
}

TEST(ModelConfigTest, DefaultsWhenOptionalFieldsAreAbsent) {
  Json j = Mixtral();
  for (const char* key :
       {"num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
        "tie_word_embeddings", "bos_token_id", "eos_token_id", "torch_dtype"}) {
    j.erase(key);
  }
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 32);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_TRUE(c->eos_token_ids.empty());
  EXPECT_EQ(c->torch_dtype, "");
}

TEST(ModelConfigTest, RopeScalingAndEosLists) {
  Json j = Qwen3Moe();
  j["rope_scaling"] = {
      {"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  j["eos_token_id"] = {151645, 151643};
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->type, "yarn");
  EXPECT_EQ(c->rope_scaling->factor, 4.0);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(151645, 151643));
  j["rope_scaling"] = {{"type", "linear"}, {"factor", "2"}};
  EXPECT_THAT(Error(j), HasSubstr("rope_scaling: field 'factor' must be a number, got string"));
}

TEST(ModelConfigTest, UnknownArchitectureListsTheSupportedOnes) {
  Json j = Mixtral();
  j["architectures"] = {"LlamaForCausalLM"};
  EXPECT_EQ(Error(j),
            "config.json: unknown architecture 'LlamaForCausalLM'; supported: "
            "MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, OlmoeForCausalLM, "
            "DeepseekV3ForCausalLM, GptOssForCausalLM");
  j.erase("architectures");
  EXPECT_THAT(Error(j), HasSubstr("missing required field 'architectures'"));
  EXPECT_THAT(Error(Json::array()), HasSubstr("missing required field 'architectures'"));
}

TEST(ModelConfigTest, MissingRequiredFieldNamesFieldAndArchitecture) {
  Json j = Mixtral();
  j.erase("hidden_size");
  EXPECT_EQ(Error(j), "config.json: missing required field 'hidden_size' (MixtralForCausalLM)");
  j = Mixtral();
  j["num_local_experts"] = nullptr;  // null is absent
  EXPECT_EQ(Error(j),
            "config.json: missing required field 'num_local_experts' (MixtralForCausalLM)");
  j = Qwen3Moe();
  j.erase("moe_intermediate_size");
  EXPECT_THAT(Error(j), HasSubstr("'moe_intermediate_size' (Qwen3MoeForCausalLM)"));
  j = Olmoe();
  j.erase("num_experts");
  EXPECT_EQ(ParseModelConfig(j, "/m/config.json").status().message(),
            "/m/config.json: missing required field 'num_experts' (OlmoeForCausalLM)");
}

TEST(ModelConfigTest, WrongTypesAndValues) {
  Json j = Mixtral();
  j["num_hidden_layers"] = "32";
  EXPECT_EQ(Error(j), "config.json: field 'num_hidden_layers' must be an integer, got string");
  j = Mixtral();
  j["hidden_size"] = 4096.5;
  EXPECT_THAT(Error(j), HasSubstr("'hidden_size' must be an integer, got a fractional number"));
  j = Mixtral();
  j["tie_word_embeddings"] = 1;
  EXPECT_THAT(Error(j), HasSubstr("'tie_word_embeddings' must be a boolean, got number"));
  j = Mixtral();
  j["num_attention_heads"] = 0;
  EXPECT_THAT(Error(j), HasSubstr("'num_attention_heads' must be positive, got 0"));
  j = Mixtral();
  j["num_experts_per_tok"] = 9;
  EXPECT_THAT(Error(j), HasSubstr("'num_experts_per_tok' (9) exceeds the number of experts (8)"));
  j = Mixtral();
  j["num_key_value_heads"] = 5;
  EXPECT_THAT(Error(j), HasSubstr("'num_key_value_heads' (5) must divide"));
  j = Mixtral();
  j["eos_token_id"] = {2, "x"};
  EXPECT_THAT(Error(j), HasSubstr("'eos_token_id' must be a list of integers"));
}

TEST(ModelConfigTest, GenerationConfigReadsWhatIsPresent) {
  auto g = ParseGenerationConfig(Json::parse(
      R"({"bos_token_id": 1, "eos_token_id": [2, 32000], "temperature": 0.7, "top_k": 20,
          "transformers_version": "4.40.0"})"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_THAT(g->eos_token_ids, ElementsAre(2, 32000));
  EXPECT_EQ(g->temperature, 0.7);
  EXPECT_EQ(g->top_k, 20);
  EXPECT_FALSE(g->top_p.has_value());
  EXPECT_FALSE(g->max_new_tokens.has_value());
  EXPECT_EQ(ParseGenerationConfig(Json::parse(R"({"top_p": "0.9"})")).status().message(),
            "generation_config.json: field 'top_p' must be a number, got string");
}

}  // namespace
}  // namespace sy

namespace sy {
namespace {

// Abridged from deepseek-ai/DeepSeek-V3's config.json.
nlohmann::json DeepseekV3() {
  return nlohmann::json::parse(R"({
    "architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 8,
    "topk_group": 4, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
    "norm_topk_prob": true, "max_position_embeddings": 163840, "rms_norm_eps": 1e-06,
    "rope_theta": 10000, "vocab_size": 129280, "bos_token_id": 0, "eos_token_id": 1,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
      "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn"},
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3",
      "quant_method": "fp8", "weight_block_size": [128, 128]}})");
}

TEST(DeepseekV3ConfigTest, ReadsLatentAttentionGroupedRoutingAndFp8) {
  auto c = ParseModelConfig(DeepseekV3());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kDeepseekV3);
  ASSERT_TRUE(c->mla.has_value());
  EXPECT_EQ(c->mla->q_lora_rank, 1536);
  EXPECT_EQ(c->mla->kv_lora_rank, 512);
  EXPECT_EQ(c->mla->qk_head_dim(), 192);
  EXPECT_TRUE(c->mla->rope_interleave);
  EXPECT_EQ(c->num_experts, 256);
  EXPECT_EQ(c->expert_intermediate_size(), 2048);
  EXPECT_EQ(c->n_group, 8);
  EXPECT_EQ(c->topk_group, 4);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_FALSE(c->IsMoeLayer(2));
  EXPECT_TRUE(c->IsMoeLayer(3));
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->type, "yarn");
  EXPECT_DOUBLE_EQ(c->rope_scaling->factor, 40);
  EXPECT_DOUBLE_EQ(*c->rope_scaling->original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c->rope_scaling->mscale_all_dim, 1.0);
  ASSERT_TRUE(c->quantization.has_value());
  EXPECT_EQ(c->quantization->method, "fp8");
  EXPECT_EQ(c->quantization->block_rows, 128);
}

TEST(DeepseekV3ConfigTest, KimiK2LoadsTheSameWay) {
  nlohmann::json kimi = DeepseekV3();
  kimi["n_routed_experts"] = 384;
  kimi["n_group"] = 1;
  kimi["topk_group"] = 1;
  kimi["num_attention_heads"] = 64;
  kimi["num_key_value_heads"] = 64;
  kimi["first_k_dense_replace"] = 1;
  kimi["routed_scaling_factor"] = 2.827;
  kimi["vocab_size"] = 163840;
  auto c = ParseModelConfig(kimi);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_experts, 384);
  EXPECT_EQ(c->n_group, 1);
  EXPECT_TRUE(c->IsMoeLayer(1));
}

TEST(DeepseekV3ConfigTest, ReadsTransformers5RopeParametersAndNullQLora) {
  nlohmann::json j = DeepseekV3();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["q_lora_rank"] = nullptr;
  j["rope_parameters"] = {{"rope_type", "yarn"},
                          {"rope_theta", 50000.0},
                          {"factor", 4.0},
                          {"original_max_position_embeddings", 1024},
                          {"truncate", false}};
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mla->q_lora_rank, 0);
  EXPECT_DOUBLE_EQ(c->rope_theta, 50000.0);
  EXPECT_FALSE(c->rope_scaling->truncate);
  EXPECT_DOUBLE_EQ(c->rope_scaling->beta_fast, 32);
}

TEST(DeepseekV3ConfigTest, RefusesGroupsThatDoNotSplitTheExperts) {
  nlohmann::json j = DeepseekV3();
  j["n_group"] = 7;
  auto c = ParseModelConfig(j);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::HasSubstr(
                  "config.json: field 'n_group' (7) does not divide n_routed_experts (256)"));
  j = DeepseekV3();
  j["topk_group"] = 9;
  EXPECT_FALSE(ParseModelConfig(j).ok());
  j = DeepseekV3();
  j.erase("kv_lora_rank");
  EXPECT_THAT(std::string(ParseModelConfig(j).status().message()),
              ::testing::HasSubstr("missing required field 'kv_lora_rank'"));
  j = DeepseekV3();
  j["quantization_config"]["quant_method"] = "awq";
  EXPECT_THAT(std::string(ParseModelConfig(j).status().message()),
              ::testing::HasSubstr("'awq' is not supported"));
}

}  // namespace
}  // namespace sy

namespace sy {
namespace {

// Abridged from openai/gpt-oss-120b's config.json (4 of its 36 layers).
nlohmann::json GptOss() {
  return nlohmann::json::parse(R"({
    "architectures": ["GptOssForCausalLM"], "attention_bias": true, "eos_token_id": 200002,
    "head_dim": 64, "hidden_size": 2880, "intermediate_size": 2880,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    "max_position_embeddings": 131072, "num_attention_heads": 64, "num_experts_per_tok": 4,
    "num_hidden_layers": 4, "num_key_value_heads": 8, "num_local_experts": 128,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn"],
      "quant_method": "mxfp4"},
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
      "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": false},
    "rope_theta": 150000, "sliding_window": 128, "swiglu_limit": 7.0,
    "tie_word_embeddings": false, "vocab_size": 201088})");
}

TEST(GptOssConfigTest, ReadsLayerTypesYarnAndMxfp4) {
  auto c = ParseModelConfig(GptOss());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, Architecture::kGptOss);
  EXPECT_EQ(c->num_experts, 128);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->norm_topk_prob);  // softmax over the top-k logits
  EXPECT_EQ(c->SlidingWindow(0), 128);
  EXPECT_EQ(c->SlidingWindow(1), 0);
  EXPECT_DOUBLE_EQ(c->swiglu_limit, 7.0);
  EXPECT_FALSE(c->rope_scaling->truncate);
  EXPECT_EQ(c->quantization->method, "mxfp4");
}

TEST(GptOssConfigTest, DefaultsFollowGptOssConfig) {
  nlohmann::json j = GptOss();
  for (const char* key : {"layer_types", "sliding_window", "rope_scaling", "attention_bias"}) {
    j.erase(key);
  }
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->SlidingWindow(2), 128);  // even layers slide
  EXPECT_EQ(c->SlidingWindow(3), 0);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->rope_scaling->type, "yarn");
  EXPECT_DOUBLE_EQ(c->rope_scaling->factor, 32);
  j["layer_types"] = {"sliding_attention", "chunked_attention", "full_attention", "full_attention"};
  EXPECT_THAT(std::string(ParseModelConfig(j).status().message()),
              ::testing::HasSubstr("field 'layer_types' item 1 is \"chunked_attention\""));
}

}  // namespace
}  // namespace sy
