#include "core/model/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "core/model/safetensors_writer.h"
#include "core/model/test_files.h"

namespace sy {
namespace {

using ::sy::testing_support::ScopedScratchDir;
using ::sy::testing_support::WriteFile;
using ::sy::testing_support::WriteRawSafetensors;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"({
  "architectures": ["OlmoeForCausalLM"], "hidden_size": 4, "intermediate_size": 2,
  "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 8, "num_experts": 2,
  "num_experts_per_tok": 1})";

Tensor Ramp(const Shape& shape) {
  std::vector<float> values(NumElements(shape));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  return *Tensor::FromF32(shape, values);
}

// A tiny two-shard checkpoint: embed + norm in shard 1, lm_head in shard 2.
void WriteCheckpoint(const ScopedScratchDir& dir, bool with_index) {
  WriteFile(dir.File("config.json"), kConfig);
  ASSERT_TRUE(WriteSafetensors(
                  dir.File("model-00001-of-00002.safetensors"),
                  {{"model.embed_tokens.weight", Ramp({8, 4})}, {"model.norm.weight", Ramp({4})}})
                  .ok());
  ASSERT_TRUE(WriteSafetensors(dir.File("model-00002-of-00002.safetensors"),
                               {{"lm_head.weight", Ramp({8, 4})}})
                  .ok());
  if (!with_index) return;
  WriteFile(dir.File("model.safetensors.index.json"), R"({
    "metadata": {"total_size": 272},
    "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                   "model.norm.weight": "model-00001-of-00002.safetensors",
                   "lm_head.weight": "model-00002-of-00002.safetensors"}})");
}

std::string OpenError(const ScopedScratchDir& dir) {
  auto c = Checkpoint::Open(dir.path().string());
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(CheckpointTest, OpensShardsWithoutAnIndex) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/false);
  auto c = Checkpoint::Open(dir.path().string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config().architecture, Architecture::kOlmoe);
  EXPECT_EQ(c->config_json()["num_experts"], 2);
  EXPECT_FALSE(c->generation_config().has_value());
  EXPECT_THAT(c->names(),
              ElementsAre("lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"));
  EXPECT_TRUE(c->Has("model.norm.weight"));
  EXPECT_FALSE(c->Has("model.layers.0.mlp.gate.weight"));
  Tensor head = *c->Require("lm_head.weight", {8, 4}, DType::kF32);
  EXPECT_EQ(head.Get(31), 31.0);
}

TEST(CheckpointTest, FollowsTheIndexAndReadsGenerationConfig) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/true);
  // Not in the index, so not part of the checkpoint (an interrupted download, say).
  ASSERT_TRUE(WriteSafetensors(dir.File("stray.safetensors"), {{"stray", Ramp({1})}}).ok());
  WriteFile(dir.File("generation_config.json"),
            R"({"eos_token_id": [5, 6], "temperature": 0.6, "top_p": 0.95})");
  auto c = Checkpoint::Open(dir.path().string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->names().size(), 3u);
  EXPECT_FALSE(c->Has("stray"));
  ASSERT_TRUE(c->generation_config().has_value());
  EXPECT_THAT(c->generation_config()->eos_token_ids, ElementsAre(5, 6));
  EXPECT_EQ(c->generation_config()->top_p, 0.95);
  EXPECT_EQ(c->Get("model.norm.weight")->Get(3), 3.0);
}

TEST(CheckpointTest, ViewsOutliveTheCheckpoint) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/true);
  std::optional<Tensor> norm;
  {
    auto c = Checkpoint::Open(dir.path().string());
    ASSERT_TRUE(c.ok()) << c.status();
    norm = *c->Get("model.norm.weight");
  }
  EXPECT_EQ(norm->Get(2), 2.0);
}

TEST(CheckpointTest, IndexNamingAMissingShard) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/true);
  std::filesystem::remove(dir.File("model-00002-of-00002.safetensors"));
  EXPECT_THAT(OpenError(dir), AllOf(HasSubstr("model.safetensors.index.json"),
                                    HasSubstr("shard 'model-00002-of-00002.safetensors'"),
                                    HasSubstr("'lm_head.weight'"), HasSubstr("does not exist")));
}

TEST(CheckpointTest, IndexNamingATensorTheShardLacks) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/true);
  ASSERT_TRUE(
      WriteSafetensors(dir.File("model-00002-of-00002.safetensors"), {{"lm_head.bias", Ramp({8})}})
          .ok());
  EXPECT_THAT(OpenError(dir), HasSubstr(dir.File("model-00002-of-00002.safetensors") +
                                        ": no tensor 'lm_head.weight'"));
}

TEST(CheckpointTest, IndexWithBadEntries) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/true);
  WriteFile(dir.File("model.safetensors.index.json"), R"({"weight_map": {"x": "../evil"}})");
  EXPECT_THAT(OpenError(dir), HasSubstr("weight_map entry for tensor 'x' must be a file name"));
  WriteFile(dir.File("model.safetensors.index.json"), R"({"metadata": {}})");
  EXPECT_THAT(OpenError(dir), HasSubstr("missing required field 'weight_map'"));
}

TEST(CheckpointTest, MissingTensorAndWrongShapeOrDtype) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/false);
  auto c = Checkpoint::Open(dir.path().string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Get("model.layers.0.self_attn.q_proj.weight").status().message(),
            dir.path().string() + ": no tensor 'model.layers.0.self_attn.q_proj.weight' in the " +
                "checkpoint");
  const std::string shard = dir.File("model-00001-of-00002.safetensors");
  EXPECT_EQ(c->Require("model.norm.weight", {5}, DType::kF32).status().message(),
            shard + ": tensor 'model.norm.weight' is f32[4], expected f32[5]");
  EXPECT_EQ(c->Require("model.norm.weight", {4}, DType::kBF16).status().message(),
            shard + ": tensor 'model.norm.weight' is f32[4], expected bf16[4]");
}

TEST(CheckpointTest, ConfigErrorsNameTheFile) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/false);
  const std::string config = dir.File("config.json");
  WriteFile(config, R"({"architectures": ["OlmoeForCausalLM"], "hidden_size": 4})");
  EXPECT_EQ(OpenError(dir),
            config + ": missing required field 'intermediate_size' (OlmoeForCausalLM)");
  WriteFile(config, "{not json");
  EXPECT_EQ(OpenError(dir), config + ": not valid JSON");
  std::filesystem::remove(config);
  EXPECT_THAT(OpenError(dir), HasSubstr(config));
  WriteFile(config, kConfig);
  WriteFile(dir.File("generation_config.json"), R"({"top_k": 0.5})");
  EXPECT_THAT(OpenError(dir), HasSubstr("generation_config.json: field 'top_k'"));
}

TEST(CheckpointTest, CorruptShardNamesFileAndTensor) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/false);
  const std::string shard = dir.File("model-00002-of-00002.safetensors");
  WriteRawSafetensors(shard,
                      R"({"lm_head.weight": {"dtype": "F32", "shape": [8, 4],
                          "data_offsets": [0, 128]}})",
                      std::string(64, '\0'));
  EXPECT_THAT(OpenError(dir),
              AllOf(HasSubstr(shard + ": tensor 'lm_head.weight'"), HasSubstr("truncated")));
}

TEST(CheckpointTest, DuplicateTensorsAndNoShards) {
  ScopedScratchDir dir;
  WriteCheckpoint(dir, /*with_index=*/false);
  ASSERT_TRUE(
      WriteSafetensors(dir.File("extra.safetensors"), {{"lm_head.weight", Ramp({1})}}).ok());
  EXPECT_THAT(OpenError(dir), AllOf(HasSubstr("tensor 'lm_head.weight' is in both"),
                                    HasSubstr("extra.safetensors")));
  ScopedScratchDir empty;
  WriteFile(empty.File("config.json"), kConfig);
  EXPECT_EQ(OpenError(empty), empty.path().string() + ": no *.safetensors files");
}

}  // namespace
}  // namespace sy
