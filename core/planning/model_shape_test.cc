#include "core/planning/model_shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/planning/model_presets.h"
#include "tests/support/scratch_dir.h"

namespace sy::planning {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

nlohmann::json TinyMixtral() {
  return {{"architectures", {"MixtralForCausalLM"}},
          {"hidden_size", 64},
          {"intermediate_size", 128},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"num_local_experts", 4},
          {"num_experts_per_tok", 2},
          {"vocab_size", 100},
          {"max_position_embeddings", 4096}};
}

TEST(ModelShapeTest, DeepseekV3HasDenseLayersFirstAndLatentAttention) {
  auto s = LoadModelPreset("deepseek-v3");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "deepseek-v3");
  EXPECT_EQ(s->source, "deepseek-ai/DeepSeek-V3 config.json");
  EXPECT_EQ(s->MoeLayerCount(), 58);
  EXPECT_FALSE(s->moe_layer[2]);
  EXPECT_TRUE(s->moe_layer[3]);
  ASSERT_TRUE(s->mla.has_value());
  EXPECT_EQ(s->mla->q_lora_rank, 1536);
  EXPECT_EQ(s->mla->kv_lora_rank, 512);
  EXPECT_EQ(s->shared_intermediate_size, 2048);
  EXPECT_TRUE(s->score_correction_bias);
  EXPECT_EQ(s->mtp_layers, 1);
  EXPECT_EQ(s->checkpoint_precision, WeightPrecision::kFp8);
  EXPECT_EQ(s->checkpoint_scope, QuantScope::kLinear);
}

TEST(ModelShapeTest, KimiK2ReadsAsDeepseekV3) {
  auto s = LoadModelPreset("kimi-k2");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->family, Family::kDeepseekV3);
  EXPECT_EQ(s->num_experts, 384);
  EXPECT_EQ(s->MoeLayerCount(), 60);
}

TEST(ModelShapeTest, GptOssAlternatesSlidingAndFullAttention) {
  auto s = LoadModelPreset("gpt-oss-120b");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->attention_window.size(), 36u);
  EXPECT_EQ(s->attention_window[0], 128);
  EXPECT_EQ(s->attention_window[1], 0);
  EXPECT_EQ(s->attention_window[34], 128);
  EXPECT_TRUE(s->attention_sinks && s->qkv_bias && s->o_bias && s->router_bias);
  EXPECT_EQ(s->checkpoint_precision, WeightPrecision::kMxfp4);
  EXPECT_EQ(s->checkpoint_scope, QuantScope::kExperts);
}

TEST(ModelShapeTest, QwenSparseStepAndMlpOnlyLayers) {
  nlohmann::json j = {{"architectures", {"Qwen3MoeForCausalLM"}},
                      {"hidden_size", 64},
                      {"intermediate_size", 128},
                      {"moe_intermediate_size", 32},
                      {"num_hidden_layers", 4},
                      {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},
                      {"num_experts", 8},
                      {"num_experts_per_tok", 2},
                      {"vocab_size", 100},
                      {"decoder_sparse_step", 2},
                      {"mlp_only_layers", {3}}};
  auto s = ParseModelShape(j, "qwen.json");
  ASSERT_TRUE(s.ok()) << s.status();
  // Layers 1 and 3 are the sparse steps; 3 is forced dense.
  EXPECT_THAT(s->moe_layer, ElementsAre(false, true, false, false));
  EXPECT_EQ(s->qk_norm, QkNorm::kPerHead);
  j["mlp_only_layers"] = {4};
  EXPECT_THAT(ParseModelShape(j, "qwen.json").status().message(),
              HasSubstr("qwen.json: field 'mlp_only_layers' names layer 4 of 4"));
}

TEST(ModelShapeTest, MixtralSlidingWindowCoversEveryLayer) {
  nlohmann::json j = TinyMixtral();
  j["sliding_window"] = 1024;
  auto s = ParseModelShape(j, "m.json");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->attention_window, ElementsAre(1024, 1024));
}

TEST(ModelShapeTest, ErrorsNameTheFileAndTheField) {
  nlohmann::json j = TinyMixtral();
  j.erase("hidden_size");
  EXPECT_EQ(ParseModelShape(j, "/m/config.json").status().message(),
            "/m/config.json: missing required field 'hidden_size' (MixtralForCausalLM)");
  j = TinyMixtral();
  j["num_experts_per_tok"] = 5;
  EXPECT_THAT(
      ParseModelShape(j, "c.json").status().message(),
      HasSubstr("c.json: field 'num_experts_per_tok' (5) exceeds the number of experts (4)"));
  j = TinyMixtral();
  j["layer_types"] = {"full_attention"};
  EXPECT_THAT(ParseModelShape(j, "c.json").status().message(),
              HasSubstr("field 'layer_types' must list one attention type per layer (2)"));
  j = TinyMixtral();
  j["architectures"] = {"LlamaForCausalLM"};
  EXPECT_THAT(ParseModelShape(j, "c.json").status().message(),
              HasSubstr("c.json: unknown architecture 'LlamaForCausalLM'; supported: "
                        "MixtralForCausalLM, Qwen2MoeForCausalLM"));
  j.erase("architectures");
  EXPECT_THAT(ParseModelShape(j, "c.json").status().message(),
              HasSubstr("c.json: missing required field 'architectures'"));
  EXPECT_THAT(ParseModelShape(nlohmann::json::array(), "c.json").status().message(),
              HasSubstr("c.json: not a JSON object"));
}

TEST(ModelShapeTest, LoadsAFolderAndNamesTheShapeAfterIt) {
  testing_support::ScopedScratchDir dir;
  std::filesystem::create_directories(dir.path() / "tiny-mixtral");
  std::ofstream(dir.File("tiny-mixtral/config.json")) << TinyMixtral().dump();
  auto s = LoadModelShape(dir.File("tiny-mixtral"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "tiny-mixtral");
  EXPECT_EQ(s->source, dir.File("tiny-mixtral/config.json"));

  std::ofstream(dir.File("broken.json")) << "{\"hidden_size\": ";
  EXPECT_EQ(LoadModelShape(dir.File("broken.json")).status().message(),
            dir.File("broken.json") + ": not valid JSON");
  EXPECT_EQ(LoadModelShape(dir.File("absent.json")).status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelShapeTest, ResolveModelTriesFilesThenPresets) {
  EXPECT_TRUE(ResolveModel("mixtral-8x22b").ok());
  const absl::Status unknown = ResolveModel("mixtral-9x9b").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(),
              HasSubstr("'mixtral-9x9b' is neither a config.json, a model folder nor a preset "
                        "(presets: mixtral-8x7b, mixtral-8x22b, qwen3-30b-a3b, qwen3-235b-a22b, "
                        "deepseek-v3, kimi-k2, gpt-oss-120b)"));
}

}  // namespace
}  // namespace sy::planning
