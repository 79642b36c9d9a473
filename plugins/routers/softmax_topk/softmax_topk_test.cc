// router.softmax_topk, loaded from its .so, against values worked out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/tensor/tensor_convert.h"
#include "tests/support/router_test_fixture.h"

namespace sy {
namespace {

class SoftmaxTopKTest : public router_test::RouterPluginTest {
 protected:
  SoftmaxTopKTest() : RouterPluginTest("sy_router_softmax_topk", "router.softmax_topk") {}
};

// logits (0, ln 2, ln 3, ln 4) give probabilities (1, 2, 3, 4) / 10.
Tensor LogTen() {
  return *Tensor::FromF32({1, 4}, {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)});
}

TEST_F(SoftmaxTopKTest, RenormalisedTopTwo) {
  RouterOutput out = Route({{"k", {int64_t{2}}}}, LogTen());
  EXPECT_EQ(out.expert_ids.data<int32_t>()[0], 3);
  EXPECT_EQ(out.expert_ids.data<int32_t>()[1], 2);
  EXPECT_NEAR(out.expert_weights.data<float>()[0], 4.0 / 7.0, 1e-6);
  EXPECT_NEAR(out.expert_weights.data<float>()[1], 3.0 / 7.0, 1e-6);
}

TEST_F(SoftmaxTopKTest, WithoutRenormalisationWeightsAreProbabilities) {
  RouterOutput out = Route({{"k", {int64_t{3}}}, {"renormalize", {false}}}, LogTen());
  EXPECT_NEAR(out.expert_weights.data<float>()[0], 0.4, 1e-6);
  EXPECT_NEAR(out.expert_weights.data<float>()[1], 0.3, 1e-6);
  EXPECT_NEAR(out.expert_weights.data<float>()[2], 0.2, 1e-6);
  EXPECT_EQ(out.expert_ids.data<int32_t>()[2], 1);
}

TEST_F(SoftmaxTopKTest, TiesGoToTheLowerExpertId) {
  RouterOutput out = Route({{"k", {int64_t{2}}}}, *Tensor::FromF32({1, 4}, {1, 5, 5, 5}));
  EXPECT_EQ(out.expert_ids.data<int32_t>()[0], 1);
  EXPECT_EQ(out.expert_ids.data<int32_t>()[1], 2);
  EXPECT_FLOAT_EQ(out.expert_weights.data<float>()[0], 0.5f);
}

TEST_F(SoftmaxTopKTest, AcceptsBf16LogitsAndLargeValues) {
  Tensor logits = *ConvertDType(*Tensor::FromF32({1, 3}, {1000, 992, -1000}), DType::kBF16);
  RouterOutput out = Route({{"k", {int64_t{2}}}}, logits);
  EXPECT_EQ(out.expert_ids.data<int32_t>()[0], 0);
  EXPECT_NEAR(out.expert_weights.data<float>()[0], 1.0 / (1.0 + std::exp(-8.0)), 1e-6);
}

}  // namespace
}  // namespace sy
