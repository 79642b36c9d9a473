#include "core/tensor/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/tensor/tensor_convert.h"
#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

TEST(TensorTest, EmptyIsContiguousWithRowMajorStrides) {
  Tensor t = *Tensor::Empty({2, 3, 4}, DType::kBF16);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 48);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  EXPECT_EQ(t.Describe(), "bf16[2,3,4] on cpu");
}

TEST(TensorTest, RefusesBadShapes) {
  EXPECT_THAT(std::string(Tensor::Empty({-1}, DType::kF32).status().message()),
              HasSubstr("negative"));
  EXPECT_THAT(std::string(Tensor::Empty({3}, DType::kI4).status().message()),
              HasSubstr("even last dimension"));
  EXPECT_THAT(std::string(Tensor::Empty(Shape(9, 1), DType::kF32).status().message()),
              HasSubstr("rank 9"));
  EXPECT_THAT(std::string(Tensor::FromF32({2, 2}, {1, 2, 3}).status().message()),
              HasSubstr("3 values do not fill shape [2,2]"));
}

TEST(TensorTest, ReshapeAndSliceShareMemory) {
  Tensor t = *Tensor::FromF32({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor r = *t.Reshape({3, 2});
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_EQ(r.Get(5), 5.0);
  Tensor row = *t.SliceRows(1, 2);
  EXPECT_EQ(row.shape(), (Shape{1, 3}));
  EXPECT_EQ(row.Get(0), 3.0);
  row.data<float>()[0] = 42;
  EXPECT_EQ(t.Get(3), 42.0);
  EXPECT_FALSE(t.Reshape({4}).ok());
  EXPECT_FALSE(t.SliceRows(1, 3).ok());
}

TEST(TensorTest, FromBufferViewsBorrowedMemoryWithinBounds) {
  auto storage = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  auto buffer = Buffer::Wrap(storage->data(), 4 * sizeof(float), storage);
  Tensor t = *Tensor::FromBuffer(buffer, sizeof(float), {3}, DType::kF32);
  EXPECT_EQ(t.Get(0), 2.0);
  EXPECT_EQ(t.raw_data(), storage->data() + 1);
  EXPECT_THAT(std::string(Tensor::FromBuffer(buffer, 8, {3}, DType::kF32).status().message()),
              HasSubstr("do not fit the buffer"));
  EXPECT_FALSE(Tensor::FromBuffer(buffer, -4, {1}, DType::kF32).ok());
  EXPECT_FALSE(Tensor::FromBuffer(nullptr, 0, {1}, DType::kF32).ok());
}

TEST(TensorTest, CloneCopies) {
  Tensor t = *Tensor::FromF32({2}, {1, 2});
  Tensor c = *t.Clone();
  c.data<float>()[0] = 9;
  EXPECT_EQ(t.Get(0), 1.0);
}

TEST(TensorTest, ConvertsBetweenEveryPairOfDtypes) {
  Tensor src = *Tensor::FromF32({2, 4}, {0, 1, -2, 3, 0.5f, -0.25f, 7, -8});
  for (DType mid : {DType::kF32, DType::kBF16, DType::kF16, DType::kFP8E4M3}) {
    Tensor back = *ConvertDType(*ConvertDType(src, mid), DType::kF32);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(back.Get(i), src.Get(i)) << DTypeName(mid) << " " << i;
  }
  Tensor i4 = *ConvertDType(src, DType::kI4);
  EXPECT_EQ(i4.nbytes(), 4);
  const double expected_i4[] = {0, 1, -2, 3, 0, 0, 7, -8};  // 0.5 and -0.25 round to 0
  for (int i = 0; i < 8; ++i) EXPECT_EQ(i4.Get(i), expected_i4[i]);
  Tensor u4 = *ConvertDType(src, DType::kU4);
  EXPECT_EQ(u4.Get(2), 0.0);  // -2 saturates to 0
  Tensor i64 = *ConvertDType(*ConvertDType(src, DType::kI32), DType::kI64);
  EXPECT_EQ(i64.Get(6), 7.0);
}

TEST(TensorTest, RandomIsSeededAndDistributed) {
  Tensor a = *RandomNormal({1000, 10}, 1);
  Tensor b = *RandomNormal({1000, 10}, 1);
  Tensor c = *RandomNormal({1000, 10}, 2);
  double sum = 0, sum_sq = 0;
  bool all_equal = true, any_differ = false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    sum += a.Get(i);
    sum_sq += a.Get(i) * a.Get(i);
    all_equal &= a.Get(i) == b.Get(i);
    any_differ |= a.Get(i) != c.Get(i);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_differ);
  EXPECT_NEAR(sum / 1e4, 0.0, 0.05);
  EXPECT_NEAR(sum_sq / 1e4, 1.0, 0.05);
  Tensor u = *RandomUniform({1000}, 3, 2.0f, 4.0f);
  for (int64_t i = 0; i < 1000; ++i) {
    EXPECT_GE(u.Get(i), 2.0);
    EXPECT_LT(u.Get(i), 4.0);
  }
}

TEST(TensorTest, CToViewMatches) {
  Tensor t = *Tensor::Empty({3, 5}, DType::kI32);
  const sy_tensor c = t.ToC();
  EXPECT_EQ(c.data, t.raw_data());
  EXPECT_EQ(c.dtype, SY_DTYPE_I32);
  EXPECT_EQ(c.ndim, 2);
  EXPECT_EQ(c.shape[1], 5);
  EXPECT_EQ(c.strides[0], 5);
  EXPECT_EQ(c.device.type, SY_DEVICE_CPU);
}

}  // namespace
}  // namespace sy
