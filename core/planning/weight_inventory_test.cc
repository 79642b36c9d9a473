// Parameter counts of the presets against hand computations from their published config.json,
// and bytes per precision. The arithmetic is written out so that a reader can check it without
// running anything.
#include "core/planning/weight_inventory.h"

#include <gtest/gtest.h>

#include "core/planning/model_presets.h"

namespace sy::planning {
namespace {

ModelShape Preset(const std::string& name) {
  auto shape = LoadModelPreset(name);
  EXPECT_TRUE(shape.ok()) << shape.status();
  return *shape;
}

TEST(WeightInventoryTest, Mixtral8x7bByHand) {
  // Mixtral-8x7B: hidden 4096, 32 layers, 32 heads, 8 KV heads x 128, 8 experts of 14336, top-2,
  // vocab 32000, lm_head untied, no shared experts.
  //   embed_tokens  32000 * 4096                                         =    131,072,000
  //   lm_head       32000 * 4096                                         =    131,072,000
  //   per layer:
  //     attention   q 4096*4096 = 16,777,216; k, v 1024*4096 = 4,194,304 each;
  //                 o 4096*4096 = 16,777,216                               =     41,943,040
  //     norms       input + post-attention 2 * 4096                        =          8,192
  //     router      8 * 4096                                               =         32,768
  //     experts     8 * 3 * 14336 * 4096 = 8 * 176,160,768                 =  1,409,286,144
  //   32 layers: attention 1,342,177,280; norms 262,144 (+ final 4,096 = 266,240);
  //              routers 1,048,576; experts 45,097,156,608
  //   total = 262,144,000 + 1,342,177,280 + 266,240 + 1,048,576 + 45,097,156,608
  //         = 46,702,792,704  (46.70 B)
  //   active = total - 32 layers * 6 unused experts * 176,160,768
  //          = 46,702,792,704 - 33,822,867,456 = 12,879,925,248  (12.88 B)
  const ParameterCounts c = CountParameters(Preset("mixtral-8x7b"));
  EXPECT_EQ(c[WeightPart::kEmbeddings], 262'144'000);
  EXPECT_EQ(c[WeightPart::kAttention], 1'342'177'280);
  EXPECT_EQ(c[WeightPart::kNorms], 266'240);
  EXPECT_EQ(c[WeightPart::kRouters], 1'048'576);
  EXPECT_EQ(c[WeightPart::kDenseMlp], 0);
  EXPECT_EQ(c[WeightPart::kSharedExperts], 0);
  EXPECT_EQ(c[WeightPart::kRoutedExperts], 45'097'156'608);
  EXPECT_EQ(c.total, 46'702'792'704);
  EXPECT_EQ(c.active, 12'879'925'248);
}

TEST(WeightInventoryTest, Mixtral8x22bByHand) {
  // Mixtral-8x22B: hidden 6144, 56 layers, 48 heads, 8 KV heads x 128, 8 experts of 16384,
  // top-2, vocab 32768, lm_head untied.
  //   embeddings    2 * 32768 * 6144 = 2 * 201,326,592                     =    402,653,184
  //   per layer:
  //     attention   q 6144*6144 = 37,748,736; k, v 1024*6144 = 6,291,456 each;
  //                 o 37,748,736                                           =     88,080,384
  //     norms       2 * 6144                                               =         12,288
  //     router      8 * 6144                                               =         49,152
  //     experts     8 * 3 * 16384 * 6144 = 8 * 301,989,888                 =  2,415,919,104
  //   56 layers: attention 4,932,501,504; norms 688,128 (+ final 6,144 = 694,272);
  //              routers 2,752,512; experts 135,291,469,824
  //   total = 402,653,184 + 4,932,501,504 + 694,272 + 2,752,512 + 135,291,469,824
  //         = 140,630,071,296  (140.6 B)
  //   active = total - 56 * 6 * 301,989,888 = 140,630,071,296 - 101,468,602,368
  //          = 39,161,468,928  (39.2 B)
  const ParameterCounts c = CountParameters(Preset("mixtral-8x22b"));
  EXPECT_EQ(c[WeightPart::kEmbeddings], 402'653'184);
  EXPECT_EQ(c[WeightPart::kAttention], 4'932'501'504);
  EXPECT_EQ(c[WeightPart::kNorms], 694'272);
  EXPECT_EQ(c[WeightPart::kRouters], 2'752'512);
  EXPECT_EQ(c[WeightPart::kRoutedExperts], 135'291'469'824);
  EXPECT_EQ(c.total, 140'630'071'296);
  EXPECT_EQ(c.active, 39'161'468'928);
}

TEST(WeightInventoryTest, DeepseekV3ByHand) {
  // DeepSeek-V3: hidden 7168, 61 layers (first_k_dense_replace 3: layers 0-2 dense, 58 MoE),
  // 128 heads, MLA q_lora 1536, kv_lora 512, nope 128, rope 64, v 128; dense MLP 18432;
  // 256 routed experts of 2048, 1 shared expert of 2048; vocab 129280, lm_head untied.
  // The multi-token-prediction layer (num_nextn_predict_layers 1, ~14 B with its own embedding
  // and head copies) is not counted: the runtime does not load it. 671 B is the main model.
  //   embeddings    2 * 129280 * 7168 = 2 * 926,679,040                    =  1,853,358,080
  //   attention per layer:
  //     q_a_proj            1536 * 7168                                    =     11,010,048
  //     q_a_layernorm       1536                                           =          1,536
  //     q_b_proj            128 * (128 + 64) * 1536 = 24576 * 1536         =     37,748,736
  //     kv_a_proj_with_mqa  (512 + 64) * 7168 = 576 * 7168                 =      4,128,768
  //     kv_a_layernorm      512                                            =            512
  //     kv_b_proj           128 * (128 + 128) * 512 = 32768 * 512          =     16,777,216
  //     o_proj              7168 * 128 * 128 = 7168 * 16384                =    117,440,512
  //                                                                        =    187,107,328
  //   61 layers of attention                                               = 11,413,547,008
  //   norms         61 * 2 * 7168 + final 7168 = 874,496 + 7,168           =        881,664
  //   dense MLP     3 layers * 3 * 18432 * 7168 = 3 * 396,361,728          =  1,189,085,184
  //   routers       58 * (256 * 7168 gate + 256 e_score_correction_bias)
  //                 = 58 * 1,835,264                                       =    106,445,312
  //   shared        58 * 3 * 2048 * 7168 = 58 * 44,040,192                 =  2,554,331,136
  //   routed        58 * 256 * 44,040,192 = 58 * 11,274,289,152            = 653,908,770,816
  //   total = 1,853,358,080 + 11,413,547,008 + 881,664 + 1,189,085,184 + 106,445,312
  //           + 2,554,331,136 + 653,908,770,816 = 671,026,419,200  (671.0 B)
  //   active = total - 58 * (256 - 8) * 44,040,192 = 671,026,419,200 - 633,474,121,728
  //          = 37,552,297,472  (37.6 B)
  const ParameterCounts c = CountParameters(Preset("deepseek-v3"));
  EXPECT_EQ(c[WeightPart::kEmbeddings], 1'853'358'080);
  EXPECT_EQ(c[WeightPart::kAttention], 11'413'547'008);
  EXPECT_EQ(c[WeightPart::kNorms], 881'664);
  EXPECT_EQ(c[WeightPart::kDenseMlp], 1'189'085'184);
  EXPECT_EQ(c[WeightPart::kRouters], 106'445'312);
  EXPECT_EQ(c[WeightPart::kSharedExperts], 2'554'331'136);
  EXPECT_EQ(c[WeightPart::kRoutedExperts], 653'908'770'816);
  EXPECT_EQ(c.total, 671'026'419'200);
  EXPECT_EQ(c.active, 37'552'297'472);
}

TEST(WeightInventoryTest, Qwen3MoeByHand) {
  // Qwen3-235B-A22B: hidden 4096, 94 layers, 64 heads, 4 KV heads x 128, q/k norms of 128,
  // 128 experts of 1536, top-8, vocab 151936, untied.
  //   embeddings  2 * 151936 * 4096                                       =  1,244,659,712
  //   attention   94 * (8192*4096 + 2 * 512*4096 + 4096*8192 + 2 * 128)
  //               = 94 * 71,303,424                                       =  6,702,521,856
  //   norms       94 * 2 * 4096 + 4096                                    =        774,144
  //   routers     94 * 128 * 4096                                         =     49,283,072
  //   experts     94 * 128 * 3 * 1536 * 4096                              = 227,096,395,776
  //   total                                                               = 235,093,634,560
  EXPECT_EQ(CountParameters(Preset("qwen3-235b-a22b")).total, 235'093'634'560);
  // Qwen3-30B-A3B, the same way: 622,329,856 + 48 * 18,874,624 + 198,656 + 48 * 262,144
  // + 48 * 128 * 4,718,592 = 30,532,122,624.
  EXPECT_EQ(CountParameters(Preset("qwen3-30b-a3b")).total, 30'532'122'624);
}

TEST(WeightInventoryTest, GptOssByHand) {
  // gpt-oss-120b: hidden 2880, 36 layers, 64 heads, 8 KV heads x 64, biases on q/k/v/o, sinks,
  // 128 experts of 2880 with fused gate_up and biases, router bias, vocab 201088, untied.
  //   embeddings  2 * 201088 * 2880                                       =  1,158,266,880
  //   attention   36 * (4096*2880 + 2 * 512*2880 + 2880*4096 + biases 4096 + 512 + 512 + 2880
  //               + sinks 64) = 36 * 26,550,144                           =    955,805,184
  //   norms       36 * 2 * 2880 + 2880                                    =        210,240
  //   routers     36 * (128 * 2880 + 128)                                 =     13,275,648
  //   experts     36 * 128 * (5760*2880 + 2880*2880 + 5760 + 2880)
  //               = 36 * 128 * 24,891,840                                 = 114,701,598,720
  //   total                                                               = 116,829,156,672
  const ModelShape shape = Preset("gpt-oss-120b");
  const ParameterCounts c = CountParameters(shape);
  EXPECT_EQ(c[WeightPart::kAttention], 955'805'184);
  EXPECT_EQ(c[WeightPart::kRouters], 13'275'648);
  EXPECT_EQ(c.total, 116'829'156'672);
  // Published as MXFP4 experts: per expert per layer 5760 * (1440 + 90) + 2880 * (1440 + 90)
  // bytes plus bf16 biases (5760 + 2880) * 2 = 13,236,480; * 128 * 36 = 60,993,699,840; the
  // other 2,127,557,952 parameters in bf16 = 4,255,115,904; together 65,248,815,744.
  int64_t bytes = 0;
  for (const WeightTensor& t : ListWeights(shape))
    bytes += TensorBytes(t, WeightPrecision::kMxfp4, QuantScope::kExperts);
  EXPECT_EQ(bytes, 65'248'815'744);
}

TEST(WeightInventoryTest, KimiK2IsAboutOneTrillion) {
  // DeepSeek-V3's layout with 384 experts, 64 heads and one dense layer: about 1.03 T.
  const ParameterCounts c = CountParameters(Preset("kimi-k2"));
  EXPECT_NEAR(c.total / 1e9, 1026.4, 0.1);
  EXPECT_NEAR(c.active / 1e9, 32.9, 0.1);
}

TEST(WeightInventoryTest, MatrixBytesPerPrecision) {
  // [14336, 4096], Mixtral's gate projection: 58,720,256 elements.
  EXPECT_EQ(MatrixBytes(14336, 4096, WeightPrecision::kBf16), 117'440'512);
  // fp8: 1 byte each + f32 scale per 128x128 block: 112 * 32 blocks * 4 = 14,336.
  EXPECT_EQ(MatrixBytes(14336, 4096, WeightPrecision::kFp8), 58'720'256 + 14'336);
  // int8: 1 byte each + f32 scale per row: 14336 * 4 = 57,344.
  EXPECT_EQ(MatrixBytes(14336, 4096, WeightPrecision::kInt8), 58'720'256 + 57'344);
  // int4: half a byte each + (f32 scale + u8 zero) per 128 of a row: 14336 * 32 * 5 = 2,293,760.
  EXPECT_EQ(MatrixBytes(14336, 4096, WeightPrecision::kInt4), 29'360'128 + 2'293'760);
  // mxfp4: half a byte each + one byte per 32 of a row: 14336 * 128 = 1,835,008 (4.25 bits).
  EXPECT_EQ(MatrixBytes(14336, 4096, WeightPrecision::kMxfp4), 29'360'128 + 1'835'008);
  // Partial blocks count whole: DeepSeek's kv_a_proj [576, 7168] has 5 * 56 fp8 blocks.
  EXPECT_EQ(MatrixBytes(576, 7168, WeightPrecision::kFp8), 4'128'768 + 5 * 56 * 4);
}

TEST(WeightInventoryTest, ScopeDecidesWhatIsQuantized) {
  const WeightTensor q_proj{"q", WeightPart::kAttention, 4096, 4096, 1, true};
  const WeightTensor expert{"w1", WeightPart::kRoutedExperts, 14336, 4096, 1, true};
  const WeightTensor router{"gate", WeightPart::kRouters, 8, 4096, 1, false};
  EXPECT_EQ(TensorBytes(q_proj, WeightPrecision::kInt8, QuantScope::kExperts), 4096 * 4096 * 2);
  EXPECT_EQ(TensorBytes(q_proj, WeightPrecision::kInt8, QuantScope::kLinear),
            4096 * 4096 + 4096 * 4);
  EXPECT_EQ(TensorBytes(expert, WeightPrecision::kInt8, QuantScope::kExperts),
            14336 * 4096 + 14336 * 4);
  EXPECT_EQ(TensorBytes(router, WeightPrecision::kInt8, QuantScope::kLinear), 8 * 4096 * 2);
}

TEST(WeightInventoryTest, Qwen2MoeSharedExpertAndBiasesByHand) {
  // hidden 64, 2 layers, 4 heads, 2 KV heads (head_dim 16), 4 experts of 32, shared expert 48.
  //   embeddings  2 * 100 * 64                                           = 12,800
  //   attention   2 * (q 64*64 + k 32*64 + v 32*64 + o 64*64 + biases 64 + 32 + 32)
  //               = 2 * 12,416                                           = 24,832
  //   norms       2 * 2 * 64 + 64                                        =    320
  //   routers     2 * (4 * 64 gate + 64 shared_expert_gate)              =    640
  //   shared      2 * 3 * 48 * 64                                        = 18,432
  //   routed      2 * 4 * 3 * 32 * 64                                    = 49,152
  //   total                                                              = 106,176
  const nlohmann::json j = {{"architectures", {"Qwen2MoeForCausalLM"}},
                            {"hidden_size", 64},
                            {"intermediate_size", 128},
                            {"moe_intermediate_size", 32},
                            {"shared_expert_intermediate_size", 48},
                            {"num_hidden_layers", 2},
                            {"num_attention_heads", 4},
                            {"num_key_value_heads", 2},
                            {"num_experts", 4},
                            {"num_experts_per_tok", 2},
                            {"vocab_size", 100}};
  auto shape = ParseModelShape(j, "qwen2.json");
  ASSERT_TRUE(shape.ok()) << shape.status();
  const ParameterCounts c = CountParameters(*shape);
  EXPECT_EQ(c[WeightPart::kAttention], 24'832);
  EXPECT_EQ(c[WeightPart::kRouters], 640);
  EXPECT_EQ(c[WeightPart::kSharedExperts], 18'432);
  EXPECT_EQ(c.total, 106'176);
}

TEST(WeightInventoryTest, OlmoeNormsAcrossHeadsAndTiedEmbeddingsByHand) {
  // hidden 64, 1 layer, 4 heads = 4 KV heads of 16, q/k norms over all heads (64 each),
  // 4 experts of 32, tied embeddings.
  //   embeddings 100 * 64 (one matrix) = 6,400; attention 4 * 64*64 + 64 + 64 = 16,512;
  //   norms 2 * 64 + 64 = 192; router 4 * 64 = 256; experts 4 * 3 * 32 * 64 = 24,576;
  //   total 47,936
  const nlohmann::json j = {{"architectures", {"OlmoeForCausalLM"}},
                            {"hidden_size", 64},
                            {"intermediate_size", 32},
                            {"num_hidden_layers", 1},
                            {"num_attention_heads", 4},
                            {"num_experts", 4},
                            {"num_experts_per_tok", 2},
                            {"vocab_size", 100},
                            {"tie_word_embeddings", true}};
  auto shape = ParseModelShape(j, "olmoe.json");
  ASSERT_TRUE(shape.ok()) << shape.status();
  const ParameterCounts c = CountParameters(*shape);
  EXPECT_EQ(c[WeightPart::kEmbeddings], 6'400);
  EXPECT_EQ(c[WeightPart::kAttention], 16'512);
  EXPECT_EQ(c.total, 47'936);
}

}  // namespace
}  // namespace sy::planning
