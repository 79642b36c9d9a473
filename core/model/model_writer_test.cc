#include "core/model/model_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/model/checkpoint.h"
#include "core/model/test_files.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace sy {
namespace {

using ::sy::testing_support::ScopedScratchDir;
using ::testing::HasSubstr;
using ::testing::Lt;

using Expected = std::map<std::string, Shape>;

// The tensors transformers loads for each architecture, written out from the Hub's layouts
// independently of ModelTensors().
void AddExpert(Expected& t, const std::string& p, int64_t h, int64_t i, bool mixtral) {
  t[p + (mixtral ? ".w1.weight" : ".gate_proj.weight")] = {i, h};
  t[p + (mixtral ? ".w3.weight" : ".up_proj.weight")] = {i, h};
  t[p + (mixtral ? ".w2.weight" : ".down_proj.weight")] = {h, i};
}

Expected ExpectedTensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, hd = c.head_dim, q = c.num_attention_heads * hd,
                kv = c.num_key_value_heads * hd, v = c.vocab_size;
  const bool mixtral = c.architecture == Architecture::kMixtral;
  Expected t = {{"model.embed_tokens.weight", {v, h}}, {"model.norm.weight", {h}}};
  if (!c.tie_word_embeddings) t["lm_head.weight"] = {v, h};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l), a = p + ".self_attn";
    t[p + ".input_layernorm.weight"] = t[p + ".post_attention_layernorm.weight"] = {h};
    if (c.architecture == Architecture::kGptOss) {  // biased projections, sinks, fused experts
      const int64_t e = c.num_experts, i = c.intermediate_size, heads = c.num_attention_heads;
      for (const char* name : {"q", "k", "v"}) {
        const int64_t rows = name[0] == 'q' ? q : kv;
        t[absl::StrCat(a, ".", name, "_proj.weight")] = {rows, h};
        t[absl::StrCat(a, ".", name, "_proj.bias")] = {rows};
      }
      t[a + ".o_proj.weight"] = {h, q};
      t[a + ".o_proj.bias"] = {h};
      t[a + ".sinks"] = {heads};
      const std::string m = p + ".mlp";
      t[m + ".router.weight"] = {e, h};
      t[m + ".router.bias"] = {e};
      t[m + ".experts.gate_up_proj"] = {e, h, 2 * i};
      t[m + ".experts.gate_up_proj_bias"] = {e, 2 * i};
      t[m + ".experts.down_proj"] = {e, i, h};
      t[m + ".experts.down_proj_bias"] = {e, h};
      continue;
    }
    if (c.mla) {  // DeepSeek-V3: latent attention, q through LoRA
      const MlaConfig& m = *c.mla;
      const int64_t heads = c.num_attention_heads;
      t[a + ".q_a_proj.weight"] = {m.q_lora_rank, h};
      t[a + ".q_a_layernorm.weight"] = {m.q_lora_rank};
      t[a + ".q_b_proj.weight"] = {heads * m.qk_head_dim(), m.q_lora_rank};
      t[a + ".kv_a_proj_with_mqa.weight"] = {m.kv_lora_rank + m.qk_rope_head_dim, h};
      t[a + ".kv_a_layernorm.weight"] = {m.kv_lora_rank};
      t[a + ".kv_b_proj.weight"] = {heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank};
      t[a + ".o_proj.weight"] = {h, heads * m.v_head_dim};
    } else {
      t[a + ".q_proj.weight"] = {q, h};
      t[a + ".k_proj.weight"] = t[a + ".v_proj.weight"] = {kv, h};
      t[a + ".o_proj.weight"] = {h, q};
    }
    if (c.architecture == Architecture::kQwen2Moe) {
      t[a + ".q_proj.bias"] = {q};
      t[a + ".k_proj.bias"] = t[a + ".v_proj.bias"] = {kv};
    }
    if (c.qk_norm == QkNorm::kPerHead) t[a + ".q_norm.weight"] = t[a + ".k_norm.weight"] = {hd};
    if (c.qk_norm == QkNorm::kAcrossHeads) {
      t[a + ".q_norm.weight"] = {q};
      t[a + ".k_norm.weight"] = {kv};
    }
    const std::string m = p + (mixtral ? ".block_sparse_moe" : ".mlp");
    if (!c.IsMoeLayer(l)) {
      AddExpert(t, m, h, c.intermediate_size, false);
      continue;
    }
    t[m + ".gate.weight"] = {c.num_experts, h};
    if (c.mla) {
      t[m + ".gate.e_score_correction_bias"] = {c.num_experts};
      AddExpert(t, m + ".shared_experts", h, c.n_shared_experts * c.expert_intermediate_size(),
                false);
    }
    for (int64_t e = 0; e < c.num_experts; ++e) {
      AddExpert(t, absl::StrCat(m, ".experts.", e), h, c.expert_intermediate_size(), mixtral);
    }
    if (c.shared_expert_intermediate_size > 0) {
      AddExpert(t, m + ".shared_expert", h, c.shared_expert_intermediate_size, false);
      t[m + ".shared_expert_gate.weight"] = {1, h};
    }
  }
  return t;
}

// Opens `dir` as the runtime does and checks every tensor, the config and the tokenizer.
void CheckModel(const std::string& dir, const ModelSpec& spec, DType dtype) {
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const ModelConfig& c = checkpoint->config();
  EXPECT_EQ(c.architecture, spec.arch);
  EXPECT_EQ(c.num_experts, spec.experts);
  EXPECT_EQ(c.num_experts_per_tok, spec.top_k);
  // DeepSeek-V3's head_dim is its rotary width (DeepseekV3Config sets it so).
  EXPECT_EQ(c.head_dim, c.mla ? spec.qk_rope_head_dim : spec.resolved_head_dim());
  const Expected expected = ExpectedTensors(c);
  EXPECT_EQ(checkpoint->names().size(), expected.size());
  for (const auto& [name, shape] : expected) {
    auto tensor = checkpoint->Require(name, shape, dtype);
    EXPECT_TRUE(tensor.ok()) << tensor.status();
  }
  auto tokenizer = BpeTokenizer::FromFile(dir + "/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->vocab_size(), spec.vocab);
  ASSERT_FALSE(c.eos_token_ids.empty());
  EXPECT_TRUE(tokenizer->IsSpecial(static_cast<int32_t>(c.eos_token_ids[0])));
  ASSERT_TRUE(checkpoint->generation_config().has_value());
  EXPECT_EQ(checkpoint->generation_config()->eos_token_ids, c.eos_token_ids);
}

TEST(ModelWriterTest, EveryPresetLoadsWithEveryTensorShaped) {
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    ScopedScratchDir dir;
    const ModelSpec spec = *Preset(name);
    auto files = WriteModel(spec, dir.path().string());
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_EQ(files->size(), 4u);  // config, generation config, tokenizer, one shard
    CheckModel(dir.path().string(), spec, DType::kF32);
  }
}

TEST(ModelWriterTest, ConfigUsesTheTransformersFieldNames) {
  ScopedScratchDir dir;
  ModelSpec spec = *Preset("tiny-qwen2-moe");
  spec.dtype = DType::kBF16;
  ASSERT_TRUE(WriteModel(spec, dir.path().string()).ok());
  const auto json = nlohmann::json::parse(std::ifstream(dir.File("config.json")));
  EXPECT_EQ(json["model_type"], "qwen2_moe");
  EXPECT_EQ(json["architectures"][0], "Qwen2MoeForCausalLM");
  EXPECT_EQ(json["torch_dtype"], "bfloat16");
  EXPECT_EQ(json["shared_expert_intermediate_size"], 128);
  EXPECT_EQ(json["norm_topk_prob"], false);
  EXPECT_FALSE(json.contains("num_local_experts"));
  CheckModel(dir.path().string(), spec, DType::kBF16);
}

TEST(ModelWriterTest, QwenDenseLayersUseTheDenseMlp) {
  ScopedScratchDir dir;
  ModelSpec spec = *Preset("tiny-qwen3-moe");
  spec.mlp_only_layers = {0};
  spec.tie_embeddings = true;
  ASSERT_TRUE(WriteModel(spec, dir.path().string()).ok());
  auto checkpoint = Checkpoint::Open(dir.path().string());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_TRUE(checkpoint->Has("model.layers.0.mlp.down_proj.weight"));
  EXPECT_FALSE(checkpoint->Has("model.layers.0.mlp.gate.weight"));
  EXPECT_FALSE(checkpoint->Has("lm_head.weight"));
  CheckModel(dir.path().string(), spec, DType::kF32);
}

TEST(ModelWriterTest, ShardsWithAnIndexHoldTheSameValues) {
  ScopedScratchDir single, sharded;
  ModelSpec spec = *Preset("tiny-mixtral");
  ASSERT_TRUE(WriteModel(spec, single.path().string()).ok());
  spec.shards = 3;
  auto files = WriteModel(spec, sharded.path().string());
  ASSERT_TRUE(files.ok()) << files.status();
  for (const char* name : {"model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors",
                           "model.safetensors.index.json"}) {
    EXPECT_TRUE(std::filesystem::exists(sharded.File(name))) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(sharded.File("model.safetensors")));
  CheckModel(sharded.path().string(), spec, DType::kF32);
  auto a = Checkpoint::Open(single.path().string());
  auto b = Checkpoint::Open(sharded.path().string());
  ASSERT_TRUE(a.ok() && b.ok());
  for (const std::string& name : a->names()) {
    const Tensor x = *a->Get(name), y = *b->Get(name);
    ASSERT_EQ(x.nbytes(), y.nbytes()) << name;
    EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()), 0) << name;
  }
  const float norm = *static_cast<const float*>(a->Get("model.norm.weight")->raw_data());
  EXPECT_EQ(norm, 1.0f);
}

TEST(ModelWriterTest, TokenizerRoundTripsAndUsesItsMerges) {
  ScopedScratchDir dir;
  ASSERT_TRUE(WriteModel(*Preset("tiny-mixtral"), dir.path().string()).ok());
  auto tokenizer = BpeTokenizer::FromFile(dir.File("tokenizer.json"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string text = "The experts are in the garden, naïve 42 times!\n\tdone";
  auto ids = tokenizer->Encode(text);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(ids->size(), Lt(text.size() * 2 / 3));  // merges make words single tokens
  EXPECT_EQ(tokenizer->Decode(*ids), text);
  auto with_bos = tokenizer->Encode("the", /*add_special_tokens=*/true);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ((*with_bos)[0], *tokenizer->TokenToId("<s>"));
  EXPECT_EQ(*tokenizer->TokenToId("</s>"), 511);
}

TEST(ModelWriterTest, BadSpecsNameTheField) {
  ModelSpec spec = *Preset("tiny-olmoe");
  spec.top_k = 9;
  EXPECT_THAT(ValidateModelSpec(spec).message(), HasSubstr("top_k (9) exceeds experts (8)"));
  spec = *Preset("tiny-olmoe");
  spec.kv_heads = 3;
  EXPECT_THAT(ValidateModelSpec(spec).message(), HasSubstr("kv_heads (3) must divide heads"));
  spec = *Preset("tiny-qwen2-moe");
  spec.vocab = 200;
  EXPECT_THAT(ValidateModelSpec(spec).message(), HasSubstr("vocab (200) must be at least 259"));
  EXPECT_THAT(Preset("huge").status().message(), HasSubstr("unknown preset 'huge'"));
  ScopedScratchDir dir;
  testing_support::WriteFile(dir.File("other.txt"), "x");
  EXPECT_THAT(WriteModel(*Preset("tiny-olmoe"), dir.path().string()).status().message(),
              HasSubstr("not an empty directory"));
}

}  // namespace
}  // namespace sy
