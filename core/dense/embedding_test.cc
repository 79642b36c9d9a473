#include "core/dense/embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace sy {
namespace {

Tensor Ids(const std::vector<int32_t>& v) {
  Tensor t = *Tensor::Empty({static_cast<int64_t>(v.size())}, DType::kI32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

TEST(EmbeddingTest, GathersF32Rows) {
  Tensor table = *Tensor::FromF32({3, 2}, {0, 1, 10, 11, 20, 21});
  Tensor y = *Embed(Ids({2, 0, 2}), table, 2);
  ASSERT_EQ(y.shape(), (Shape{3, 2}));
  const std::vector<double> want = {20, 21, 0, 1, 20, 21};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.Get(i), want[i]);
}

TEST(EmbeddingTest, WidensBf16Rows) {
  const std::vector<float> values = {1.5f, -2.0f, 0.25f, 3.0f};  // exact in bf16
  Tensor table = *Tensor::Empty({2, 2}, DType::kBF16);
  for (int i = 0; i < 4; ++i) table.data<uint16_t>()[i] = F32ToBF16(values[i]);
  Tensor ids = *Tensor::Empty({2}, DType::kI64);
  ids.data<int64_t>()[0] = 1;
  ids.data<int64_t>()[1] = 0;
  Tensor y = *Embed(ids, table);
  EXPECT_EQ(y.dtype(), DType::kF32);
  const std::vector<double> want = {0.25, 3.0, 1.5, -2.0};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y.Get(i), want[i]);
}

TEST(EmbeddingTest, NamesTheFirstOutOfRangeId) {
  Tensor table = *Tensor::Zeros({5, 2}, DType::kF32);
  absl::StatusOr<Tensor> y = Embed(Ids({1, 7, 9}), table);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(y.status().message(), testing::HasSubstr("token id 7 at index 1"));
  EXPECT_THAT(y.status().message(), testing::HasSubstr("f32[5,2]"));
  EXPECT_THAT(Embed(Ids({-1}), table).status().message(), testing::HasSubstr("token id -1"));
  EXPECT_FALSE(Embed(*Tensor::Zeros({2}, DType::kF32), table).ok());
}

}  // namespace
}  // namespace sy
