// experts.cuda, loaded from its .so: picked by experts.auto only where there is a GPU, and on
// the GPU the same results from device tensors (the fast path), host tensors (staged) and
// experts.cpu. The expert function itself is checked by the experts conformance suite.
#include <gtest/gtest.h>

#include <cmath>

#include "core/device/cuda_runtime.h"
#include "core/plugin_host/experts.h"
#include "core/plugin_host/quantizer.h"
#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

class CudaExpertsTest : public ::testing::Test {
 protected:
  // Plugins next to the binary (<exe>/../lib/switchyard/plugins), in the build tree and in the
  // bundle the GPU machine runs.
  void SetUp() override {
    const std::string dir = DefaultPluginSearchPath().front() + "/";
    ASSERT_TRUE(registry_.LoadLibrary(dir + "sy_experts_cpu.so").ok()) << dir;
    ASSERT_TRUE(registry_.LoadLibrary(dir + "sy_experts_cuda.so").ok()) << dir;
    ASSERT_TRUE(registry_.LoadLibrary(dir + "sy_quantizer_fp8.so").ok()) << dir;
    ASSERT_TRUE(registry_.LoadLibrary(dir + "sy_quantizer_int4.so").ok()) << dir;
  }
  Experts Make(const std::string& name) {
    return *Experts::From(*Component::Create(*registry_.Find(name), {}));
  }
  ComponentRegistry registry_;
};

TEST_F(CudaExpertsTest, AutoPicksCudaOnlyWithAGpu) {
  auto best = registry_.Find("experts.auto");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->info->full_name, cuda::DeviceCount() > 0 ? "experts.cuda" : "experts.cpu");
  const sy_qlayout bf16 = {sizeof(sy_qlayout), SY_DTYPE_BF16, 1, 1, 0, 0};
  EXPECT_EQ(Make("experts.cuda").Supports(bf16), cuda::DeviceCount() > 0);
  // fp8 e4m3 with 128 x 128 block scales (quantizer.fp8's block config), no other block.
  const sy_qlayout fp8 = {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 128, 128, 1, 0};
  EXPECT_EQ(Make("experts.cuda").Supports(fp8), cuda::DeviceCount() > 0);
  const sy_qlayout fp8_64 = {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 64, 64, 1, 0};
  EXPECT_FALSE(Make("experts.cuda").Supports(fp8_64));
  const sy_qlayout fp8_channel = {sizeof(sy_qlayout), SY_DTYPE_FP8_E4M3, 1, 4096, 1, 0};
  EXPECT_FALSE(Make("experts.cuda").Supports(fp8_channel));
  // int4 in groups of 128 with zero points (quantizer.int4's default), no other group.
  const sy_qlayout u4 = {sizeof(sy_qlayout), SY_DTYPE_U4, 1, 128, 1, 1};
  EXPECT_EQ(Make("experts.cuda").Supports(u4), cuda::DeviceCount() > 0);
  const sy_qlayout u4_64 = {sizeof(sy_qlayout), SY_DTYPE_U4, 1, 64, 1, 1};
  EXPECT_FALSE(Make("experts.cuda").Supports(u4_64));
}

TEST_F(CudaExpertsTest, BadConfigIsAnError) {
  auto created = Component::Create(*registry_.Find("experts.cuda"),
                                   {ConfigTable{{"token_tiles", {int64_t{3}}}}});
  EXPECT_FALSE(created.ok());
}

double RelativeError(const Tensor& got, const Tensor& want) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    err += std::pow(got.Get(i) - want.Get(i), 2);
    norm += std::pow(want.Get(i), 2);
  }
  return std::sqrt(err / norm);
}

// Top-2 routing of every token t to experts t and t + offset (mod experts), weighted `first`
// and 1 - `first`.
RouterOutput TwoExpertRouting(int64_t tokens, int experts, int offset, float first) {
  RouterOutput routing{*Tensor::Empty({tokens, 2}, DType::kI32),
                       *Tensor::Empty({tokens, 2}, DType::kF32)};
  for (int64_t t = 0; t < tokens; ++t) {
    routing.expert_ids.data<int32_t>()[t * 2] = static_cast<int32_t>(t % experts);
    routing.expert_ids.data<int32_t>()[t * 2 + 1] = static_cast<int32_t>((t + offset) % experts);
    routing.expert_weights.data<float>()[t * 2] = first;
    routing.expert_weights.data<float>()[t * 2 + 1] = 1.0f - first;
  }
  return routing;
}

TEST_F(CudaExpertsTest, GpuDeviceTensorsMatchHostStagingAndTheCpuPlugin) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t tokens = 21, hidden = 256, inter = 128;
  const int experts = 8;
  ExpertWeights host_w, device_w;
  host_w.hidden = device_w.hidden = hidden;
  host_w.intermediate = device_w.intermediate = inter;
  for (int e = 0; e < experts; ++e) {
    Tensor gu = *RandomNormal({2 * inter, hidden}, 10 + e, 0, 0.06f, DType::kBF16);
    Tensor dn = *RandomNormal({hidden, inter}, 30 + e, 0, 0.09f, DType::kBF16);
    host_w.gate_up.push_back(*QTensor::Unquantized(gu));
    host_w.down.push_back(*QTensor::Unquantized(dn));
    device_w.gate_up.push_back(*QTensor::Unquantized(*gu.To(Device::Cuda(0))));
    device_w.down.push_back(*QTensor::Unquantized(*dn.To(Device::Cuda(0))));
  }
  const Tensor x = *RandomNormal({tokens, hidden}, 3);
  const RouterOutput routing = TwoExpertRouting(tokens, experts, 3, 0.7f);
  auto cpu_ctx = *ExecContext::Create(Device::Cpu(), 2);
  const Tensor want = *Make("experts.cpu").Forward(*cpu_ctx, x, routing, host_w);
  const Experts gpu = Make("experts.cuda");
  const Tensor staged = *gpu.Forward(*cpu_ctx, x, routing, host_w);
  EXPECT_LT(RelativeError(staged, want), 1e-2);

  auto gpu_ctx = *ExecContext::Create(Device::Cuda(0), 1);
  const RouterOutput on_device{*routing.expert_ids.To(Device::Cuda(0)),
                               *routing.expert_weights.To(Device::Cuda(0))};
  const Tensor x_device = *x.To(Device::Cuda(0));
  for (int round = 0; round < 2; ++round) {
    auto out = gpu.Forward(*gpu_ctx, x_device, on_device, device_w);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE(gpu_ctx->Synchronize().ok());
    EXPECT_TRUE(out->device().is_cuda());
    EXPECT_LT(RelativeError(*out->To(Device::Cpu()), want), 1e-2) << "round " << round;
  }
}

// quantizer.fp8 (block 128, weight-only) quantizes the experts once; experts.cpu (which
// dequantizes them) and experts.cuda (which keeps them fp8 on the device) must agree, with
// host-staged and with device-resident weights. Shapes with partial scale blocks: 2I = 320
// rows, H = 384 columns.
TEST_F(CudaExpertsTest, GpuFp8Block128WeightsFromQuantizerFp8MatchTheCpuPlugin) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t tokens = 13, hidden = 384, inter = 160;
  const int experts = 6;
  auto quantizer = Quantizer::From(
      *Component::Create(*registry_.Find("quantizer.fp8"),
                         {ConfigTable{{"granularity", {std::string("block")}},
                                      {"block", {int64_t{128}}},
                                      {"activations", {std::string("weightOnly")}}}}));
  ASSERT_TRUE(quantizer.ok()) << quantizer.status();
  auto cpu_ctx = *ExecContext::Create(Device::Cpu(), 2);
  ExpertWeights host_w, device_w;
  host_w.hidden = device_w.hidden = hidden;
  host_w.intermediate = device_w.intermediate = inter;
  auto to_device = [](const QTensor& q) {
    QTensor d = q;
    d.values = *q.values.To(Device::Cuda(0));
    d.scales = *q.scales.To(Device::Cuda(0));
    return d;
  };
  for (int e = 0; e < experts; ++e) {
    const Tensor gu = *RandomNormal({2 * inter, hidden}, 10 + e, 0, 0.06f);
    const Tensor dn = *RandomNormal({hidden, inter}, 30 + e, 0, 0.09f);
    host_w.gate_up.push_back(*quantizer->QuantizeWeight(*cpu_ctx, gu));
    host_w.down.push_back(*quantizer->QuantizeWeight(*cpu_ctx, dn));
    ASSERT_EQ(host_w.gate_up.back().layout.dtype, SY_DTYPE_FP8_E4M3);
    ASSERT_EQ(host_w.gate_up.back().scales.dim(0), 3);  // ceil(320 / 128)
    device_w.gate_up.push_back(to_device(host_w.gate_up.back()));
    device_w.down.push_back(to_device(host_w.down.back()));
  }
  const Tensor x = *RandomNormal({tokens, hidden}, 3);
  const RouterOutput routing = TwoExpertRouting(tokens, experts, 2, 0.6f);
  const Tensor want = *Make("experts.cpu").Forward(*cpu_ctx, x, routing, host_w);
  const Experts gpu = Make("experts.cuda");
  const auto staged = gpu.Forward(*cpu_ctx, x, routing, host_w);
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_LT(RelativeError(*staged, want), 1e-2);

  auto gpu_ctx = *ExecContext::Create(Device::Cuda(0), 1);
  const RouterOutput on_device{*routing.expert_ids.To(Device::Cuda(0)),
                               *routing.expert_weights.To(Device::Cuda(0))};
  auto out = gpu.Forward(*gpu_ctx, *x.To(Device::Cuda(0)), on_device, device_w);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(gpu_ctx->Synchronize().ok());
  EXPECT_LT(RelativeError(*out->To(Device::Cpu()), want), 1e-2);

  // With dynamic fp8 activations (w8a8 on the CPU) the GPU plugin refuses rather than compute
  // something else.
  auto w8a8 = Quantizer::From(*Component::Create(*registry_.Find("quantizer.fp8"), {}));
  ASSERT_TRUE(w8a8.ok());
  EXPECT_FALSE(gpu.Forward(*cpu_ctx, x, routing, host_w, &*w8a8).ok());
}

// quantizer.int4 (group 128) weights: experts.cuda (decode kernels at every batch size) and
// experts.cpu agree, host-staged, for a decode-sized and a prefill-sized batch.
TEST_F(CudaExpertsTest, GpuInt4WeightsFromQuantizerInt4MatchTheCpuPlugin) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t hidden = 256, inter = 128;
  const int experts = 4;
  auto quantizer = Quantizer::From(*Component::Create(*registry_.Find("quantizer.int4"),
                                                      {ConfigTable{{"group", {int64_t{128}}}}}));
  ASSERT_TRUE(quantizer.ok()) << quantizer.status();
  auto cpu_ctx = *ExecContext::Create(Device::Cpu(), 2);
  ExpertWeights w;
  w.hidden = hidden;
  w.intermediate = inter;
  for (int e = 0; e < experts; ++e) {
    w.gate_up.push_back(
        *quantizer->QuantizeWeight(*cpu_ctx, *RandomNormal({2 * inter, hidden}, 50 + e, 0, 0.06f)));
    w.down.push_back(
        *quantizer->QuantizeWeight(*cpu_ctx, *RandomNormal({hidden, inter}, 70 + e, 0, 0.09f)));
    ASSERT_EQ(w.gate_up.back().layout.dtype, SY_DTYPE_U4);
  }
  for (int64_t tokens : {5, 300}) {
    SCOPED_TRACE(::testing::Message() << tokens << " tokens");
    const Tensor x = *RandomNormal({tokens, hidden}, 4);
    const RouterOutput routing = TwoExpertRouting(tokens, experts, 1, 0.55f);
    const Tensor want = *Make("experts.cpu").Forward(*cpu_ctx, x, routing, w);
    const auto got = Make("experts.cuda").Forward(*cpu_ctx, x, routing, w);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_LT(RelativeError(*got, want), 1e-2);
  }
}

// Host weights behind a GPU cache smaller than the batch's experts (cacheExperts = 3 of 8: a
// forward runs in passes), with and without prefetch hints (right and wrong ones): the same
// output as without a cache, every time.
TEST_F(CudaExpertsTest, ACacheSmallerThanTheBatchGivesTheSameResults) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t tokens = 13, hidden = 256, inter = 128;
  const int experts = 8, k = 2;
  ExpertWeights w;
  w.hidden = hidden;
  w.intermediate = inter;
  for (int e = 0; e < experts; ++e) {
    w.gate_up.push_back(
        *QTensor::Unquantized(*RandomNormal({2 * inter, hidden}, 50 + e, 0, 0.06f, DType::kBF16)));
    w.down.push_back(
        *QTensor::Unquantized(*RandomNormal({hidden, inter}, 70 + e, 0, 0.09f, DType::kBF16)));
  }
  auto ctx = *ExecContext::Create(Device::Cpu(), 2);
  const Experts plain = Make("experts.cuda");
  const Experts cached = *Experts::From(*Component::Create(
      *registry_.Find("experts.cuda"), {ConfigTable{{"cacheExperts", {int64_t{3}}}}}));
  EXPECT_FALSE(plain.WantsPrefetch());
  EXPECT_TRUE(cached.WantsPrefetch());
  for (int step = 0; step < 6; ++step) {
    const Tensor x = *RandomNormal({tokens, hidden}, 100 + step);
    RouterOutput routing{*Tensor::Empty({tokens, k}, DType::kI32),
                         *Tensor::Empty({tokens, k}, DType::kF32)};
    for (int64_t t = 0; t < tokens; ++t) {  // skewed: experts 0 and 1 are hot
      routing.expert_ids.data<int32_t>()[t * k] = static_cast<int32_t>(t % 3 == 0 ? t % 8 : 0);
      routing.expert_ids.data<int32_t>()[t * k + 1] = static_cast<int32_t>((t + step) % 2 + 1);
      routing.expert_weights.data<float>()[t * k] = 0.6f;
      routing.expert_weights.data<float>()[t * k + 1] = 0.4f;
    }
    if (step % 2 == 1) {  // a hint: right on odd steps from 3, wrong on step 1
      const Tensor hint = step == 1 ? *Tensor::Zeros({tokens, k}, DType::kI32) : routing.expert_ids;
      ASSERT_TRUE(cached.Prefetch(*ctx, w, hint).ok());
    }
    const Tensor want = *plain.Forward(*ctx, x, routing, w);
    auto got = cached.Forward(*ctx, x, routing, w);
    ASSERT_TRUE(got.ok()) << got.status();
    // Exactly: each pass adds its experts' outputs into the zeroed rows, and at top-2 the sum of
    // a token's two does not depend on their order (nor, since the decode kernel sums its
    // split-K in a fixed order, does anything else). A stale or wrong slot changes the bits.
    EXPECT_EQ(RelativeError(*got, want), 0.0) << "step " << step;
  }
}

}  // namespace
}  // namespace sy
