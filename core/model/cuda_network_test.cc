// The model on the GPU (cuda_network.h) against the same checkpoint on the CPU, for every
// architecture the GPU runs (the GQA ones and DeepSeek-V3's latent attention): prefill, decode, and
// mixed batches of several sequences give the same logits within bf16's rounding; random weights
// are deterministic; a full KV cache fails a step without changing any sequence. Skips without a
// GPU.
#include "core/model/cuda_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/device/cuda_runtime.h"
#include "core/model/model_writer.h"
#include "core/model/moe_model.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

bool HaveGpu() { return cuda::DeviceCount() > 0; }

// Each row of `cpu` and `gpu` agrees: cosine above `min_cosine` and the largest difference
// within `max_relative` of the row's largest logit. Against the CPU the defaults allow for the
// GPU rounding every GEMM input (normed hidden states, attention output, SwiGLU activations) and
// the KV cache to bf16 while the CPU keeps f32 throughout.
void ExpectRowsClose(const Tensor& cpu, const Tensor& gpu, const std::string& what,
                     double min_cosine = 0.998, double max_relative = 0.06) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  const int64_t rows = cpu.dim(0), vocab = cpu.dim(1);
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0, na = 0, nb = 0, diff = 0, peak = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      const double a = cpu.Get(r * vocab + v), b = gpu.Get(r * vocab + v);
      ASSERT_TRUE(std::isfinite(b)) << what << " row " << r;
      dot += a * b;
      na += a * a;
      nb += b * b;
      diff = std::max(diff, std::abs(a - b));
      peak = std::max(peak, std::abs(a));
    }
    EXPECT_GT(dot / std::sqrt(na * nb), min_cosine) << what << " row " << r;
    EXPECT_LE(diff, max_relative * peak + 1e-3) << what << " row " << r;
  }
}

class CudaNetworkTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!HaveGpu()) return;
    registry_.Discover(DefaultPluginSearchPath());  // the build tree, or a bundle
    cpu_ = *ExecContext::Create(Device::Cpu(), 2);
    gpu_ = *ExecContext::Create(Device::Cuda(0), 2);
    dir_ = sy::testing_support::ScratchDir() + "/cuda_model";
    std::filesystem::remove_all(dir_);
    // "<preset>-fp8": the preset's checkpoint with fp8 e4m3 projections and 128 x 128
    // weight_scale_inv (DeepSeek-V3's format); the GPU keeps its experts fp8.
    const std::string fp8_suffix = "-fp8";
    const std::string name = GetParam();
    const bool fp8 = name.ends_with(fp8_suffix);
    spec_ = *Preset(fp8 ? name.substr(0, name.size() - fp8_suffix.size()) : name);
    spec_.fp8 = fp8;
    spec_.init_std = 0.2;  // attention far from uniform
    // Every token goes to every expert: top-k of fewer would let bf16 rounding flip a near-tie
    // between two experts, a discontinuity that then persists in that sequence's cache. The
    // kernels' top-k selection is checked against its reference in kernels/moe.
    spec_.experts = 4;
    spec_.top_k = 4;
    spec_.dtype = DType::kBF16;  // both devices compute with the same weights
    spec_.hidden = 128;
    spec_.heads = 4;
    spec_.kv_heads = spec_.arch == Architecture::kDeepseekV3 ? 4 : 2;
    if (spec_.arch == Architecture::kQwen2Moe) spec_.mlp_only_layers = {1};  // a dense layer too
    if (spec_.arch == Architecture::kDeepseekV3) {
      // Both groups kept, so every expert is still chosen (the grouping itself is checked
      // against its reference in kernels/moe); layer 0 stays dense, with a shared expert after.
      spec_.n_group = 2;
      spec_.topk_group = 2;
    }
    ASSERT_TRUE(WriteModel(spec_, dir_).ok());
  }
  std::unique_ptr<MoeModel> Load(Device device) {
    auto ckpt = Checkpoint::Open(dir_);
    EXPECT_TRUE(ckpt.ok()) << ckpt.status();
    ModelOptions options;
    options.device = device;
    auto model = MoeModel::Load(*ckpt, registry_, options, device.is_cpu() ? *cpu_ : *gpu_);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *std::move(model) : nullptr;
  }
  // Runs `steps` on the GPU model loaded twice, with CUDA graphs and with
  // SWITCHYARD_CUDA_GRAPHS=0 (every step eager), each into its own cache of sequences
  // 0..sequences-1: every step's logits must agree.
  void ExpectGraphsMatchEagerSteps(const std::vector<std::vector<SequenceChunk>>& steps,
                                   int64_t sequences) {
    auto graphed = Load(Device::Cuda(0));
    setenv("SWITCHYARD_CUDA_GRAPHS", "0", 1);
    auto eager = Load(Device::Cuda(0));
    unsetenv("SWITCHYARD_CUDA_GRAPHS");
    ASSERT_NE(graphed, nullptr);
    ASSERT_NE(eager, nullptr);
    auto graphed_cache = *PagedKvCache::Create(graphed->CacheShape(64, 4));
    auto eager_cache = *PagedKvCache::Create(eager->CacheShape(64, 4));
    for (int64_t s = 0; s < sequences; ++s) {
      ASSERT_TRUE(graphed_cache.AddSequence(s).ok());
      ASSERT_TRUE(eager_cache.AddSequence(s).ok());
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      auto a = graphed->ForwardBatch(*gpu_, steps[i], graphed_cache);
      auto b = eager->ForwardBatch(*gpu_, steps[i], eager_cache);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      ASSERT_EQ(a->shape(), b->shape()) << "step " << i;
      ExpectRowsClose(*b, *a, absl::StrCat(GetParam(), " step ", i), 0.9999, 0.01);
    }
  }
  ComponentRegistry registry_;
  std::unique_ptr<ExecContext> cpu_, gpu_;
  std::string dir_;
  ModelSpec spec_;
};

TEST_P(CudaNetworkTest, MatchesTheCpuModelThroughPrefillDecodeAndMixedBatches) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  auto cpu = Load(Device::Cpu());
  auto gpu = Load(Device::Cuda(0));
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  auto cpu_cache = *PagedKvCache::Create(cpu->CacheShape(64, 4));
  auto gpu_cache = *PagedKvCache::Create(gpu->CacheShape(64, 4));
  EXPECT_EQ(gpu_cache.shape().dtype, DType::kBF16);
  for (int64_t s : {0, 1, 2}) {
    ASSERT_TRUE(cpu_cache.AddSequence(s).ok());
    ASSERT_TRUE(gpu_cache.AddSequence(s).ok());
  }
  // Step 1: two prefills (one wants every row's logits); step 2: a decode, a third sequence's
  // prefill and a second chunk of sequence 1 together; then decodes across block boundaries.
  std::vector<std::vector<SequenceChunk>> steps = {
      {{0, {5, 300, 17, 42, 99, 7, 256, 3, 11}, true}, {1, {8, 9, 10}, false}},
      {{0, {77}, false}, {2, {400, 401, 402, 403, 404}, true}, {1, {12, 13, 14, 15, 16}, true}},
  };
  for (int i = 0; i < 6; ++i) steps.push_back({{0, {100 + i}}, {1, {200 + i}}, {2, {300 + i}}});
  for (size_t i = 0; i < steps.size(); ++i) {
    auto want = cpu->ForwardBatch(*cpu_, steps[i], cpu_cache);
    auto got = gpu->ForwardBatch(*gpu_, steps[i], gpu_cache);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectRowsClose(*want, *got, absl::StrCat(GetParam(), " step ", i));
  }
  for (int64_t s : {0, 1, 2}) EXPECT_EQ(*gpu_cache.Length(s, 0), *cpu_cache.Length(s, 0));
}

TEST_P(CudaNetworkTest, AFullCacheFailsTheStepAndKeepsEverySequence) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  auto gpu = Load(Device::Cuda(0));
  ASSERT_NE(gpu, nullptr);
  auto cache = *PagedKvCache::Create(gpu->CacheShape(3, 4));  // 12 slots
  ASSERT_TRUE(cache.AddSequence(0).ok());
  ASSERT_TRUE(gpu->Forward(*gpu_, {1, 2, 3, 4, 5}, 0, cache).ok());
  auto full = gpu->Forward(*gpu_, std::vector<int32_t>(10, 7), 0, cache);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_EQ(*cache.Length(0, 0), 5);
  auto next = gpu->Forward(*gpu_, {6}, 0, cache);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*cache.Length(0, 0), 6);
}

// Decode steps replay a captured CUDA graph from the second step of a shape on; a model loaded
// with SWITCHYARD_CUDA_GRAPHS=0 runs every step eagerly. Both give the same logits while
// sequences grow across blocks, up to the order of the MoE decode kernel's f32 atomics, which
// varies run to run and, through bf16 keys and values, drifts with the steps (seen: 6e-3 after
// 11 steps); a stale pointer or block table would be off by the size of the logits.
TEST_P(CudaNetworkTest, DecodeGraphReplaysMatchEagerSteps) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  std::vector<std::vector<SequenceChunk>> steps = {
      {{0, {1, 2, 3}, false}, {1, {4, 5, 6, 7, 8, 9}, false}}};
  for (int i = 0; i < 20; ++i) {  // lengths 4..23 and 7..26: tables of 1 to 7 blocks
    steps.push_back({{0, {10 + i}, false}, {1, {40 + i}, false}});
  }
  ExpectGraphsMatchEagerSteps(steps, 2);
}

// A prefill of as many tokens, in as many blocks, as a captured decode step has the same
// shape key but not the same step: it must run eagerly. Replaying the decode graph over it
// read the prefill's metadata in the decode layout (block tables shifted by the rows it has
// fewer), attending over another sequence's cache.
TEST_P(CudaNetworkTest, APrefillOfACapturedDecodeShapeRunsEagerly) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  std::vector<std::vector<SequenceChunk>> steps = {{{0, {1}, false}, {1, {2}, false}}};
  // Decodes to lengths 2, 3, 4 (one 4-token block each): seen, captured, replayed.
  for (int i = 0; i < 3; ++i) steps.push_back({{0, {10 + i}, false}, {1, {20 + i}, false}});
  steps.push_back({{2, {30, 31}, false}});  // 2 tokens in 1 block: the decode steps' key
  ExpectGraphsMatchEagerSteps(steps, 3);
}

// Logits come back in pinned buffers the network reuses: one a caller still holds must never be
// overwritten by a later step, however many it holds.
TEST_P(CudaNetworkTest, LogitsACallerHoldsOutliveLaterSteps) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  auto gpu = Load(Device::Cuda(0));
  ASSERT_NE(gpu, nullptr);
  auto cache = *PagedKvCache::Create(gpu->CacheShape(64, 4));
  ASSERT_TRUE(cache.AddSequence(0).ok());
  std::vector<Tensor> held;
  std::vector<std::vector<float>> copies;
  for (int i = 0; i < 7; ++i) {
    std::vector<SequenceChunk> step = {{0, {10 + i, 20 + i}, true}};
    auto logits = gpu->ForwardBatch(*gpu_, step, cache);
    ASSERT_TRUE(logits.ok()) << logits.status();
    copies.emplace_back(logits->data<float>(), logits->data<float>() + logits->numel());
    if (i % 2 == 0) held.push_back(*std::move(logits));  // the odd steps' buffers go back
  }
  for (size_t j = 0; j < held.size(); ++j) {
    const std::vector<float> now(held[j].data<float>(), held[j].data<float>() + held[j].numel());
    EXPECT_EQ(now, copies[2 * j]) << "step " << 2 * j;
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaNetworkTest,
                         ::testing::Values("tiny-mixtral", "tiny-qwen2-moe", "tiny-qwen3-moe",
                                           "tiny-olmoe", "tiny-deepseek-v3", "tiny-gpt-oss",
                                           "tiny-deepseek-v3-fp8"));

TEST(CudaNetworkRandomTest, RandomWeightsAreDeterministic) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  auto ctx = *ExecContext::Create(Device::Cuda(0), 1);
  ModelSpec spec = *Preset("tiny-qwen3-moe");
  const std::string dir = sy::testing_support::ScratchDir() + "/random_config";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteModel(spec, dir).ok());
  const ModelConfig config = Checkpoint::Open(dir)->config();
  ModelOptions options;
  options.device = Device::Cuda(0);
  std::vector<Tensor> logits;
  for (uint64_t seed : {7, 7, 8}) {
    auto model = MoeModel::CreateRandom(config, options, seed, *ctx);
    ASSERT_TRUE(model.ok()) << model.status();
    auto cache = *PagedKvCache::Create((*model)->CacheShape(8, 16));
    ASSERT_TRUE(cache.AddSequence(0).ok());
    auto out = (*model)->Forward(*ctx, {1, 2, 3, 4}, 0, cache);
    ASSERT_TRUE(out.ok()) << out.status();
    for (int64_t i = 0; i < out->numel(); ++i) ASSERT_TRUE(std::isfinite(out->Get(i)));
    logits.push_back(*std::move(out));
  }
  double same = 0, different = 0;
  for (int64_t i = 0; i < logits[0].numel(); ++i) {
    same = std::max(same, std::abs(logits[0].Get(i) - logits[1].Get(i)));
    different = std::max(different, std::abs(logits[0].Get(i) - logits[2].Get(i)));
  }
  EXPECT_EQ(same, 0.0);
  EXPECT_GT(different, 1e-3);
}

// Every make-model architecture runs on the GPU; a shape the kernels cannot run is named.
TEST(CudaNetworkSupportTest, NamesAShapeTheKernelsCannotRun) {
  const std::string dir = sy::testing_support::ScratchDir() + "/support_config";
  for (const std::string& preset : PresetNames()) {
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(WriteModel(*Preset(preset), dir).ok());
    const std::string why = CudaNetwork::Unsupported(Checkpoint::Open(dir)->config());
    EXPECT_EQ(why.empty(), cuda::Built()) << preset << ": " << why;
  }
  ModelConfig config = Checkpoint::Open(dir)->config();
  config.head_dim = 264;
  const std::string why = CudaNetwork::Unsupported(config);
  EXPECT_THAT(why, HasSubstr(cuda::Built() ? "head_dim 264" : "no CUDA"));
}

}  // namespace
}  // namespace sy
