#include "core/tensor/tensor_random.h"

#include <cmath>
#include <numbers>

#include "core/base/status.h"
#include "core/tensor/tensor_convert.h"

namespace sy {
namespace {

// SplitMix64's finaliser: a bijective mix with good avalanche.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

template <typename Sample>
absl::StatusOr<Tensor> Fill(const Shape& shape, DType dtype, Sample sample) {
  SY_ASSIGN_OR_RETURN(Tensor t, Tensor::Zeros(shape, dtype));
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    WriteElement(t.raw_data(), dtype, i, sample(static_cast<uint64_t>(i)));
  return t;
}

}  // namespace

double UniformAt(uint64_t seed, uint64_t counter) {
  return static_cast<double>(Mix(Mix(seed) ^ counter) >> 11) * 0x1.0p-53;
}

absl::StatusOr<Tensor> RandomNormal(const Shape& shape, uint64_t seed, float mean, float stddev,
                                    DType dtype) {
  return Fill(shape, dtype, [&](uint64_t i) {
    // Box-Muller on two independent draws of this element's counter.
    const double u1 = 1.0 - UniformAt(seed, 2 * i);  // (0, 1]
    const double u2 = UniformAt(seed, 2 * i + 1);
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    return mean + stddev * z;
  });
}

absl::StatusOr<Tensor> RandomUniform(const Shape& shape, uint64_t seed, float low, float high,
                                     DType dtype) {
  return Fill(shape, dtype, [&](uint64_t i) { return low + (high - low) * UniformAt(seed, i); });
}

}  // namespace sy
