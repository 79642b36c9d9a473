#include "core/moe/trace_load.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/scratch_dir.h"

namespace sy {
namespace {

RouterOutput Routing(const std::vector<int32_t>& ids, int64_t k) {
  const int64_t tokens = static_cast<int64_t>(ids.size()) / k;
  RouterOutput out{*Tensor::Empty({tokens, k}, DType::kI32),
                   *Tensor::Zeros({tokens, k}, DType::kF32)};
  std::copy(ids.begin(), ids.end(), out.expert_ids.data<int32_t>());
  return out;
}

TEST(TraceLoadTest, CountsEachLayersSlotsPerExpert) {
  testing_support::ScopedScratchDir dir;
  const std::string path = (dir.path() / "t.trace").string();
  {
    auto writer = *TraceWriter::Create(path, {"m", 4, 2});
    ASSERT_TRUE(writer->Append(0, Routing({0, 1, 0, 3}, 2)).ok());
    ASSERT_TRUE(writer->Append(1, Routing({2, -1}, 2)).ok());
    ASSERT_TRUE(writer->Append(0, Routing({0, 2}, 2)).ok());
  }
  auto load = ReadTraceLoad(path);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->info.model, "m");
  EXPECT_EQ(load->records, 3);
  ASSERT_EQ(load->per_layer.size(), 2u);
  EXPECT_EQ(load->per_layer[0], (std::vector<double>{3, 1, 1, 1}));
  EXPECT_EQ(load->per_layer[1], (std::vector<double>{0, 0, 1, 0}));
}

TEST(TraceLoadTest, ErrorsNameTheFile) {
  testing_support::ScopedScratchDir dir;
  const std::string path = (dir.path() / "bad.trace").string();
  EXPECT_NE(ReadTraceLoad(path).status().message().find(path), std::string::npos);
  std::ofstream(path) << "not a trace at all, just some text";
  EXPECT_NE(ReadTraceLoad(path).status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace sy
