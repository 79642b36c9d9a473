// comm.local, loaded from its .so: a world of one rank, and a clear refusal of anything larger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/distributed/bootstrap.h"
#include "core/plugin_host/comm.h"
#include "tests/support/plugin_test_fixture.h"

namespace sy {
namespace {

using ::testing::HasSubstr;

class LocalCommTest : public plugin_test::PluginLibraryTest<Comm> {
 protected:
  LocalCommTest() : PluginLibraryTest("sy_comm_local", "comm.local") {}
};

TEST_F(LocalCommTest, CopiesRowsToItselfAndSumsToTheSame) {
  auto bootstrap = Bootstrap::Join(RankInfo{}, absl::Seconds(5));
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
  auto comm = *Create();
  ASSERT_TRUE(comm.Connect(*ctx_, *(*bootstrap)->comm_group()).ok());
  const Tensor send = *Tensor::FromF32({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor recv = *Tensor::Zeros({3, 2}, DType::kF32);
  const std::vector<int64_t> count = {2}, send_at = {1}, recv_at = {1};
  ASSERT_TRUE(comm.AllToAll(*ctx_, send, count, recv, count, send_at, recv_at).ok());
  const std::vector<float> expected = {0, 0, 2, 3, 4, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(recv.Get(i), expected[i]) << i;
  Tensor sum = *Tensor::FromF32({2}, {1.5f, -2});
  ASSERT_TRUE(comm.AllReduceSum(*ctx_, sum).ok());
  EXPECT_EQ(sum.Get(0), 1.5);
  EXPECT_EQ(sum.Get(1), -2);
}

TEST_F(LocalCommTest, RefusesAWorldOfMoreThanOne) {
  auto comm = *Create();
  sy_comm_group group = {sizeof(sy_comm_group),
                         0,
                         2,
                         0,
                         2,
                         0,
                         1,
                         1000,
                         "g",
                         nullptr,
                         [](void*, const void*, size_t, void*) -> sy_error* { return nullptr; }};
  const absl::Status status = comm.Connect(*ctx_, group);
  EXPECT_THAT(std::string(status.message()), HasSubstr("comm.local runs a world of 1 rank"));
}

TEST_F(LocalCommTest, TheHostChecksCountsBeforeThePluginSeesThem) {
  auto bootstrap = Bootstrap::Join(RankInfo{}, absl::Seconds(5));
  auto comm = *Create();
  const Tensor send = *Tensor::Zeros({2, 4}, DType::kF32);
  Tensor recv = *Tensor::Zeros({2, 4}, DType::kF32);
  const std::vector<int64_t> two = {2}, three = {3}, negative = {-1};
  EXPECT_THAT(std::string(comm.AllToAll(*ctx_, send, two, recv, two).message()),
              HasSubstr("all_to_all before connect"));
  ASSERT_TRUE(comm.Connect(*ctx_, *(*bootstrap)->comm_group()).ok());
  EXPECT_THAT(
      std::string(comm.AllToAll(*ctx_, send, three, recv, three).message()),
      HasSubstr("comm.local: all_to_all: send rows [0, 3) for rank 0 exceed the tensor's 2 rows"));
  EXPECT_THAT(std::string(comm.AllToAll(*ctx_, send, negative, recv, negative).message()),
              HasSubstr("is negative"));
  const Tensor wide = *Tensor::Zeros({2, 5}, DType::kF32);
  EXPECT_THAT(std::string(comm.AllToAll(*ctx_, wide, two, recv, two).message()),
              HasSubstr("send and recv rows differ"));
  const std::vector<int64_t> pair = {1, 1};
  EXPECT_THAT(std::string(comm.AllToAll(*ctx_, send, pair, recv, pair).message()),
              HasSubstr("need 1 entries"));
  Tensor ints = *Tensor::Zeros({2}, DType::kI32);
  EXPECT_THAT(std::string(comm.AllReduceSum(*ctx_, ints).message()), HasSubstr("f32 or i64"));
}

}  // namespace
}  // namespace sy
