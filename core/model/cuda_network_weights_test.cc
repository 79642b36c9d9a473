// The GPU model's weights on the device (cuda_network_weights.h): a DeepSeek-V3 fp8 checkpoint's
// experts stay fp8 e4m3 with their 128 x 128 scales, at about half the bytes of the same
// checkpoint in bf16. Skips without a GPU. (Its logits against the CPU model:
// CudaNetworkTest's tiny-deepseek-v3-fp8 instance.)
#include "core/model/cuda_network_weights.h"

#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/device/cuda_runtime.h"
#include "core/model/model_writer.h"
#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

// The tiny DeepSeek-V3 at expert width 128 (a whole scale block), in `fp8` or bf16, in `dir`.
void WriteTinyDeepSeek(bool fp8, const std::string& dir) {
  ModelSpec spec = *Preset("tiny-deepseek-v3");
  spec.hidden = 128;
  spec.intermediate = 128;
  spec.dtype = DType::kBF16;
  spec.fp8 = fp8;
  std::filesystem::remove_all(dir);
  const auto written = WriteModel(spec, dir);
  ASSERT_TRUE(written.ok()) << written.status();
}

CudaWeights LoadTinyDeepSeek(bool fp8, const std::string& dir) {
  WriteTinyDeepSeek(fp8, dir);
  const Checkpoint ckpt = *Checkpoint::Open(dir);
  auto w = LoadCudaWeights(ckpt.config(), &ckpt, CudaNetworkOptions{}, Device::Cuda(0), nullptr);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *std::move(w) : CudaWeights{};
}

// What the GPU test below relies on, checked without a GPU: the checkpoint's experts are e4m3
// with a 128 x 128 weight_scale_inv grid.
TEST(CudaNetworkFp8CheckpointTest, TinyDeepSeekV3Fp8ExpertsAreBlock128E4M3) {
  const std::string dir = sy::testing_support::ScratchDir() + "/fp8_checkpoint";
  WriteTinyDeepSeek(true, dir);
  const Checkpoint ckpt = *Checkpoint::Open(dir);
  const int64_t moe_layer = ckpt.config().num_hidden_layers - 1;
  ASSERT_TRUE(ckpt.config().IsMoeLayer(moe_layer));
  const std::string w = absl::StrCat("model.layers.", moe_layer, ".mlp.experts.0.gate_proj.weight");
  const absl::StatusOr<Tensor> gate = ckpt.Get(w);
  ASSERT_TRUE(gate.ok()) << gate.status();
  EXPECT_EQ(gate->dtype(), DType::kFP8E4M3);
  EXPECT_EQ(gate->shape(), (Shape{128, 128}));
  const absl::StatusOr<Tensor> scale = ckpt.Get(w + "_scale_inv");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ(scale->shape(), (Shape{1, 1}));
}

TEST(CudaNetworkFp8Test, DeepSeekV3Fp8ExpertsStayFp8OnTheDevice) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string dir = sy::testing_support::ScratchDir() + "/fp8_weights";
  const CudaWeights fp8 = LoadTinyDeepSeek(true, dir);
  const CudaWeights bf16 = LoadTinyDeepSeek(false, dir);
  ASSERT_FALSE(fp8.layers.empty());
  int64_t expert_bytes_fp8 = 0, expert_bytes_bf16 = 0;
  for (size_t i = 0; i < fp8.layers.size(); ++i) {
    const CudaExperts& e = fp8.layers[i].mlp;
    if (!fp8.layers[i].router) continue;  // a dense layer
    SCOPED_TRACE(::testing::Message() << "layer " << i);
    EXPECT_EQ(e.format, kernels::MoeWeightFormat::kFp8Block128);
    EXPECT_EQ(e.gate_up.dtype(), DType::kFP8E4M3);
    ASSERT_TRUE(e.gate_up_scales && e.down_scales);
    // Per expert: gate_up [256, 128] has a 2 x 1 grid, down [128, 128] one block.
    EXPECT_EQ(e.gate_up_scales->numel(), 2 * e.count);
    EXPECT_EQ(e.down_scales->numel(), e.count);
    EXPECT_EQ(e.pointers.numel(), 4 * e.count);
    const kernels::MoeWeightsView view = e.View();
    EXPECT_EQ(view.format, kernels::MoeWeightFormat::kFp8Block128);
    EXPECT_NE(view.gate_up_scales, nullptr);
    EXPECT_EQ(bf16.layers[i].mlp.format, kernels::MoeWeightFormat::kBf16);
    expert_bytes_fp8 += e.gate_up.nbytes() + e.down.nbytes();
    expert_bytes_bf16 += bf16.layers[i].mlp.gate_up.nbytes() + bf16.layers[i].mlp.down.nbytes();
  }
  EXPECT_GT(expert_bytes_fp8, 0);
  EXPECT_EQ(2 * expert_bytes_fp8, expert_bytes_bf16);
  EXPECT_LT(fp8.bytes, bf16.bytes);
}

// The bytes of expert slot `slot` of `e` (its gate_up and down rows, and fp8 scales), on the host.
std::vector<uint8_t> SlotBytes(const CudaExperts& e, int32_t slot) {
  std::vector<uint8_t> out;
  auto append = [&](const Tensor& stacked) {
    const int64_t per_slot = stacked.nbytes() / e.count;
    const size_t at = out.size();
    out.resize(at + per_slot);
    EXPECT_EQ(cudaMemcpy(out.data() + at, stacked.data<uint8_t>() + slot * per_slot, per_slot,
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
  };
  append(e.gate_up);
  append(e.down);
  if (e.gate_up_scales) {
    append(*e.gate_up_scales);
    append(*e.down_scales);
  }
  return out;
}

// Online rebalancing re-fills slots in place: afterwards each slot holds exactly what the slot of
// its new expert held at load, for random weights (drawn again from the stack's seeds) and for
// bf16 and fp8 checkpoints (read again).
void ExpectRefillsSwapExperts(CudaWeights& w, const Checkpoint* checkpoint) {
  int moe_layers = 0;
  for (CudaLayerWeights& layer : w.layers) {
    if (!layer.router) continue;
    ++moe_layers;
    CudaExperts& e = layer.mlp;
    ASSERT_GE(e.count, 3);
    ASSERT_TRUE(e.origin);
    const std::vector<uint8_t> expert0 = SlotBytes(e, 0), expert2 = SlotBytes(e, 2),
                               expert1 = SlotBytes(e, 1);
    ASSERT_NE(expert0, expert2);
    const std::vector<SlotRefill> swap = {{.slot = 0, .expert = 2}, {.slot = 2, .expert = 0}};
    const absl::Status refilled = RefillExpertSlots(checkpoint, swap, e, Device::Cuda(0), nullptr);
    ASSERT_TRUE(refilled.ok()) << refilled;
    EXPECT_EQ(SlotBytes(e, 0), expert2);
    EXPECT_EQ(SlotBytes(e, 2), expert0);
    EXPECT_EQ(SlotBytes(e, 1), expert1);
  }
  EXPECT_GT(moe_layers, 0);
}

TEST(CudaExpertRefillTest, RandomWeightsAreDrawnAgainFromTheirSeeds) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string dir = sy::testing_support::ScratchDir() + "/refill_random";
  WriteTinyDeepSeek(false, dir);  // for its config
  CudaNetworkOptions options;
  options.random_weights = true;
  options.seed = 11;
  auto w =
      LoadCudaWeights(Checkpoint::Open(dir)->config(), nullptr, options, Device::Cuda(0), nullptr);
  ASSERT_TRUE(w.ok()) << w.status();
  ExpectRefillsSwapExperts(*w, nullptr);
}

TEST(CudaExpertRefillTest, CheckpointExpertsAreReadAgain) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string dir = sy::testing_support::ScratchDir() + "/refill";
  for (const bool fp8 : {false, true}) {
    SCOPED_TRACE(fp8 ? "fp8" : "bf16");
    WriteTinyDeepSeek(fp8, dir);
    const Checkpoint ckpt = *Checkpoint::Open(dir);
    auto w = LoadCudaWeights(ckpt.config(), &ckpt, CudaNetworkOptions{}, Device::Cuda(0), nullptr);
    ASSERT_TRUE(w.ok()) << w.status();
    ExpectRefillsSwapExperts(*w, &ckpt);
  }
}

}  // namespace
}  // namespace sy
