// The dispatch row format: PlanDispatch packs each token once per destination rank with its
// local slot ids and weights; UnpackDispatch gives back what was packed, exactly for f32 and
// within the dtype's rounding for bf16 and fp8.
#include "core/moe/expert_parallel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace sy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 300 values: two full groups of 128 and a partial one, so group edges are exercised.
constexpr int64_t kHidden = 300;
constexpr int kTopK = 2;

// Three tokens whose groups differ in scale by 10^5 (group g of token t ~ 10^(g - 2)
// scaled by t + 1), so one scale per row would crush the small groups to fp8 subnormals.
Tensor MakeHidden() {
  Tensor hidden = *Tensor::Empty({3, kHidden}, DType::kF32);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (int64_t t = 0; t < 3; ++t) {
    for (int64_t i = 0; i < kHidden; ++i) {
      const float magnitude = std::pow(10.0f, static_cast<float>(i / 128) * 2 - 2) * (t + 1);
      hidden.data<float>()[t * kHidden + i] = normal(rng) * magnitude;
    }
  }
  return hidden;
}

RouterOutput MakeRouting() {
  // Token 0 -> experts 0, 1 (both on rank 0); token 1 -> 1, 2 (both ranks); token 2 -> 3 and a
  // dropped pair.
  RouterOutput routing{*Tensor::Empty({3, kTopK}, DType::kI32),
                       *Tensor::Empty({3, kTopK}, DType::kF32)};
  const int32_t ids[] = {0, 1, 1, 2, 3, -1};
  const float weights[] = {0.75f, 0.25f, 0.5f, 0.5f, 1.0f, 0.0f};
  std::memcpy(routing.expert_ids.data<int32_t>(), ids, sizeof ids);
  std::memcpy(routing.expert_weights.data<float>(), weights, sizeof weights);
  return routing;
}

// 4 experts on 2 ranks, 2 slots each: expert e sits in slot e.
ExpertPlacement Placement() {
  PlacementShape shape;
  shape.num_layers = 1;
  shape.num_experts = 4;
  shape.num_ranks = 2;
  shape.num_nodes = 1;
  shape.slots_per_rank = 2;
  return *ExpertPlacement::Initial(shape);
}

// The largest |x| of hidden row `t` in the fp8 group holding element `i`.
float GroupAmax(const Tensor& hidden, int64_t t, int64_t i) {
  const int64_t begin = i / kDispatchFp8Group * kDispatchFp8Group;
  float amax = 0;
  for (int64_t c = begin; c < std::min(kHidden, begin + kDispatchFp8Group); ++c) {
    amax = std::max(amax, std::fabs(hidden.data<float>()[t * kHidden + c]));
  }
  return amax;
}

// Half a unit in the last place of `x`'s binade with `bits` significant bits: the largest
// rounding-to-nearest error there (0 for 0).
float HalfUlp(float x, int bits) { return x == 0 ? 0 : std::ldexp(1.0f, std::ilogb(x) - bits); }

class DispatchRoundTripTest : public ::testing::TestWithParam<DispatchDType> {};

TEST_P(DispatchRoundTripTest, UnpackGivesBackWhatWasPacked) {
  const DispatchDType dtype = GetParam();
  const Tensor hidden = MakeHidden();
  const RouterOutput routing = MakeRouting();
  const std::vector<int32_t> slots = {0, 1, 1, 2, 3, -1};
  absl::StatusOr<DispatchPlan> plan =
      PlanDispatch(hidden, routing, slots, Placement(), /*world_size=*/2, dtype);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->send_counts, ElementsAre(2, 2));
  EXPECT_THAT(plan->row_token, ElementsAre(0, 1, 1, 2));
  EXPECT_EQ(plan->rows.dtype(), DType::kU8);
  EXPECT_EQ(plan->rows.dim(1), DispatchRowBytes(dtype, kHidden, kTopK));

  absl::StatusOr<ReceivedTokens> in = UnpackDispatch(plan->rows, kHidden, kTopK, dtype);
  ASSERT_TRUE(in.ok()) << in.status();
  // Local slot ids on the receiving rank (slot % 2), -1 where the pair goes elsewhere.
  const int32_t* ids = in->routing.expert_ids.data<int32_t>();
  EXPECT_THAT(std::vector<int32_t>(ids, ids + 8), ElementsAre(0, 1, 1, -1, -1, 0, 1, -1));
  const float* w = in->routing.expert_weights.data<float>();
  EXPECT_THAT(std::vector<float>(w, w + 8),
              ElementsAre(0.75f, 0.25f, 0.5f, 0.0f, 0.0f, 0.5f, 1.0f, 0.0f));

  for (int64_t row = 0; row < 4; ++row) {
    const int64_t t = plan->row_token[row];
    float row_amax = 0;
    for (int64_t i = 0; i < kHidden; ++i) {
      row_amax = std::max(row_amax, std::fabs(hidden.data<float>()[t * kHidden + i]));
    }
    for (int64_t i = 0; i < kHidden; ++i) {
      const float x = hidden.data<float>()[t * kHidden + i];
      const float got = in->hidden.data<float>()[row * kHidden + i];
      const float err = std::fabs(got - x);
      SCOPED_TRACE(::testing::Message()
                   << "row " << row << " element " << i << ": " << x << " came back as " << got);
      switch (dtype) {
        case DispatchDType::kF32:
          ASSERT_EQ(got, x);
          break;
        case DispatchDType::kBF16:  // 8 significant bits: half an ulp of x's binade
          ASSERT_LE(err, HalfUlp(x, 8));
          break;
        case DispatchDType::kFP8: {
          // x / scale in e4m3 (scale = the group's amax / 448): 4 significant bits, down to
          // the smallest normal 2^-6, below which the steps stay 2^-9.
          const float scale = GroupAmax(hidden, t, i) / 448.0f;
          ASSERT_LE(err, HalfUlp(std::max(std::fabs(x) / scale, 0x1p-6f), 4) * scale * 1.0001f);
          ASSERT_LE(err, row_amax / 16);  // and never more than 1/16 of the row's amax
          break;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, DispatchRoundTripTest,
                         ::testing::Values(DispatchDType::kF32, DispatchDType::kBF16,
                                           DispatchDType::kFP8),
                         [](const auto& info) { return DispatchDTypeName(info.param); });

TEST(DispatchDTypeTest, RowBytesForDeepSeekV3) {
  // H = 7168, k = 8: the hidden part plus 8 int32 ids and 8 f32 weights (64 bytes).
  EXPECT_EQ(DispatchRowBytes(DispatchDType::kF32, 7168, 8), 28736);
  EXPECT_EQ(DispatchRowBytes(DispatchDType::kBF16, 7168, 8), 14400);
  EXPECT_EQ(DispatchRowBytes(DispatchDType::kFP8, 7168, 8), 7168 + 56 * 4 + 64);
}

TEST(DispatchDTypeTest, ParsesNamesAndRefusesOthers) {
  for (DispatchDType dtype : {DispatchDType::kF32, DispatchDType::kBF16, DispatchDType::kFP8}) {
    EXPECT_EQ(*ParseDispatchDType(DispatchDTypeName(dtype)), dtype);
  }
  const absl::StatusOr<DispatchDType> bad = ParseDispatchDType("fp16");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown dispatch dtype 'fp16' (f32, bf16, fp8)"));
}

TEST(DispatchDTypeTest, UnpackRefusesRowsOfAnotherDType) {
  const std::vector<int32_t> slots = {0, 1, 1, 2, 3, -1};
  const DispatchPlan plan =
      *PlanDispatch(MakeHidden(), MakeRouting(), slots, Placement(), 2, DispatchDType::kBF16);
  const absl::StatusOr<ReceivedTokens> in =
      UnpackDispatch(plan.rows, kHidden, kTopK, DispatchDType::kFP8);
  ASSERT_FALSE(in.ok());
  EXPECT_THAT(in.status().message(), HasSubstr("(fp8)"));
}

}  // namespace
}  // namespace sy
