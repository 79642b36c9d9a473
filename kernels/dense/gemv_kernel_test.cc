// sm90_gemv_bf16 (LaunchGemvBF16) against a CPU reference that sums the same bf16 values in
// double: 1..16 rows, n from 1 to the LM head's 32,000 (partial row tiles, cluster splits of K),
// k from 64 to 14,336 and a ragged 1,000 (a last step of 8 values), beta 0 over NaN-filled
// outputs and beta 1 over prior values, guard values past the output, every split count, bit
// repeatability and graph replay, and the shapes it refuses. Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda_test_support.h"
#include "kernels/dense/dense_cuda.h"

namespace sy::kernels {
namespace {

using test_support::DeviceMemory;
using test_support::Download;
using test_support::HaveGpu;
using test_support::Upload;

constexpr int kMaxRows = 16;
constexpr int64_t kGuard = 64;  // floats past the output that must stay untouched

float Bf16ToF32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// n bf16 values uniform in [-1, 1) (f32 values truncated to bf16: the reference reads the same
// bf16 values back).
std::vector<uint16_t> RandomBf16(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (uint16_t& b : v) {
    const float f = u(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    b = static_cast<uint16_t>(bits >> 16);
  }
  return v;
}

// One (n, k) problem: x for kMaxRows rows (a call with fewer rows uses the first ones), w, the
// double-precision sums and the sums of |x||w| that scale the tolerance.
struct Problem {
  int64_t n, k;
  std::vector<uint16_t> x, w;
  std::vector<double> want, magnitude;  // [kMaxRows, n]
  std::unique_ptr<DeviceMemory> d_x, d_w;

  Problem(int64_t n_, int64_t k_, uint32_t seed) : n(n_), k(k_) {
    x = RandomBf16(kMaxRows * k, seed);
    w = RandomBf16(n * k, seed + 1);
    std::vector<float> xf(x.size()), wf(w.size());
    for (size_t i = 0; i < x.size(); ++i) xf[i] = Bf16ToF32(x[i]);
    for (size_t i = 0; i < w.size(); ++i) wf[i] = Bf16ToF32(w[i]);
    want.resize(kMaxRows * n);
    magnitude.resize(kMaxRows * n);
    for (int64_t j = 0; j < n; ++j) {
      const float* wr = wf.data() + j * k;
      for (int r = 0; r < kMaxRows; ++r) {
        const float* xr = xf.data() + r * k;
        double sum = 0, mag = 0;
        for (int64_t c = 0; c < k; ++c) {
          const double p = static_cast<double>(xr[c]) * wr[c];
          sum += p;
          mag += std::abs(p);
        }
        want[r * n + j] = sum;
        magnitude[r * n + j] = mag;
      }
    }
    d_x = Upload(x);
    d_w = Upload(w);
  }

  // Runs `rows` rows with `beta` over `prior` (NaN for beta 0) and checks every output and the
  // guard after them. Returns the outputs.
  std::vector<float> Run(int rows, float beta, int splits = 0) {
    std::vector<float> init(rows * n + kGuard);
    std::mt19937 rng(static_cast<uint32_t>(rows * 7919 + n));
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    for (int64_t i = 0; i < rows * n; ++i)
      init[i] = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
    for (int64_t i = rows * n; i < rows * n + kGuard; ++i) init[i] = 12345.0f;
    auto d_out = Upload(init);
    const std::string where = "rows " + std::to_string(rows) + " n " + std::to_string(n) + " k " +
                              std::to_string(k) + " beta " + std::to_string(beta) + " splits " +
                              std::to_string(splits);
    EXPECT_EQ(CheckGemvBF16(d_x->get<uint16_t>(), rows, k, d_w->get<uint16_t>(), n), "") << where;
    EXPECT_EQ(LaunchGemvBF16(d_x->get<uint16_t>(), rows, k, d_w->get<uint16_t>(), n,
                             d_out->get<float>(), beta, nullptr, splits),
              "")
        << where;
    std::vector<float> got = Download(d_out->get<float>(), init.size());
    int bad = 0;
    for (int r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        const int64_t i = r * n + j;
        const double expect = want[i] + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * init[i]);
        // f32 accumulation of up to 14,336 products, in another order than the reference: a
        // relative error near 1e-7 of sum |x||w|; a lost or doubled 8-value chunk is ~1e-4.
        const double tolerance = 2e-5 * (magnitude[i] + std::abs(expect)) + 1e-6;
        if (!(std::abs(got[i] - expect) <= tolerance) && bad++ < 5) {
          ADD_FAILURE() << where << ": out[" << r << ", " << j << "] = " << got[i] << ", want "
                        << expect << " (tolerance " << tolerance << ")";
        }
      }
    }
    for (int64_t i = rows * n; i < rows * n + kGuard; ++i) {
      if (got[i] != 12345.0f && bad++ < 5) ADD_FAILURE() << where << ": wrote past the output";
    }
    EXPECT_EQ(bad, 0) << where;
    got.resize(rows * n);
    return got;
  }
};

void CheckShapes(const std::vector<int64_t>& ns, const std::vector<int64_t>& ks,
                 const std::vector<int>& rows) {
  uint32_t seed = 100;
  for (int64_t k : ks) {
    for (int64_t n : ns) {
      Problem p(n, k, seed += 2);
      for (int r : rows) {
        p.Run(r, 0.0f);
        p.Run(r, 1.0f);
        if (testing::Test::HasFailure()) return;  // one shape's failures are enough to read
      }
    }
  }
}

TEST(DenseKernelsGemvTest, MatchesReferenceSmallAndRaggedShapes) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckShapes({1, 7, 1024, 4096 + 8}, {64, 1000, 4096}, {1, 2, 5, 8, 9, 16});
}

TEST(DenseKernelsGemvTest, MatchesReferenceLongK) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckShapes({7, 1024, 4096 + 8}, {14336}, {1, 5, 16});
}

TEST(DenseKernelsGemvTest, MatchesReferenceLmHead) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckShapes({32000}, {4096}, {1, 2, 16});
}

// Each split count (cluster of 1..8 CTAs over K) on the same data: all right, and bit-identical
// when repeated.
TEST(DenseKernelsGemvTest, EverySplitIsRightAndRepeatable) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  for (int64_t n : {7, 100, 1536}) {
    Problem p(n, 7168, 7);
    for (int splits : {1, 2, 4, 8}) {
      for (int rows : {3, 16}) {
        const std::vector<float> first = p.Run(rows, 0.0f, splits);
        EXPECT_EQ(p.Run(rows, 0.0f, splits), first) << "n " << n << " splits " << splits;
      }
    }
  }
}

// beta 1 on top of beta 0, captured in a graph and replayed: 2 x the eager product, exactly.
void CheckGraphReplay(int64_t n, int64_t k) {
  Problem p(n, k, 11);
  const int rows = 4;
  const std::vector<float> eager = p.Run(rows, 0.0f);
  DeviceMemory out(sizeof(float) * rows * p.n);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const std::string first =
      LaunchGemvBF16(p.d_x->get<uint16_t>(), rows, p.k, p.d_w->get<uint16_t>(), p.n,
                     out.get<float>(), 0.0f, stream);
  const std::string second =
      LaunchGemvBF16(p.d_x->get<uint16_t>(), rows, p.k, p.d_w->get<uint16_t>(), p.n,
                     out.get<float>(), 1.0f, stream);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_EQ(first, "");
  ASSERT_EQ(second, "");
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int replay = 0; replay < 3; ++replay) {
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    const std::vector<float> got = Download(out.get<float>(), rows * p.n);
    for (size_t i = 0; i < got.size(); ++i) {
      // x + x is exact in f32.
      ASSERT_EQ(got[i], 2.0f * eager[i]) << "n " << n << " replay " << replay << " at " << i;
    }
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(DenseKernelsGemvTest, ReplaysFromAGraph) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  CheckGraphReplay(4096, 4096);  // one CTA per row tile
  CheckGraphReplay(576, 7168);   // DeepSeek-V3's kv_a: clusters of CTAs split K
}

// Host-only: what the model must send to cuBLAS instead.
TEST(DenseKernelsGemvTest, RefusesWhatItCannotRun) {
  alignas(16) static uint16_t buffer[64];
  const uint16_t* aligned = buffer;
  EXPECT_EQ(CheckGemvBF16(aligned, 16, 4096, aligned, 4096), "");
  EXPECT_EQ(CheckGemvBF16(aligned, 0, 4096, aligned, 4096), "");
  EXPECT_NE(CheckGemvBF16(aligned, 17, 4096, aligned, 4096), "");
  EXPECT_NE(CheckGemvBF16(aligned, 1, 1001, aligned, 4096), "");
  EXPECT_NE(CheckGemvBF16(aligned, 1, 4100, aligned, 4096), "");
  EXPECT_NE(CheckGemvBF16(aligned + 1, 1, 4096, aligned, 4096), "");
  EXPECT_NE(CheckGemvBF16(aligned, 1, 4096, aligned + 4, 4096), "");
  EXPECT_NE(LaunchGemvBF16(aligned, 1, 4096, aligned, 16, nullptr, 0.0f, nullptr, 3), "");
}

}  // namespace
}  // namespace sy::kernels
