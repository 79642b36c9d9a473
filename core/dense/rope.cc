#include "core/dense/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"
#include "switchyard/parallel.hpp"

namespace sy {
namespace {

// transformers' _compute_llama3_parameters, frequency by frequency.
double Llama3Frequency(const RopeConfig& c, double f) {
  const double wavelen = 2 * std::numbers::pi / f;
  const double low_freq_wavelen = c.original_max_position_embeddings / c.low_freq_factor;
  const double high_freq_wavelen = c.original_max_position_embeddings / c.high_freq_factor;
  if (wavelen > low_freq_wavelen) return f / c.factor;
  if (wavelen < high_freq_wavelen) return f;
  const double smooth = (c.original_max_position_embeddings / wavelen - c.low_freq_factor) /
                        (c.high_freq_factor - c.low_freq_factor);
  return (1 - smooth) * f / c.factor + smooth * f;
}

// transformers' find_correction_dim: the lane whose wavelength fits `rotations` times into
// `max_positions`.
double YarnCorrectionDim(double rotations, int64_t dim, double theta, double max_positions) {
  return static_cast<double>(dim) * std::log(max_positions / (rotations * 2 * std::numbers::pi)) /
         (2 * std::log(theta));
}

// transformers' _compute_yarn_parameters: blends interpolated (f / factor) and extrapolated (f)
// frequencies with a linear ramp between the beta_fast and beta_slow correction dims.
std::vector<double> YarnFrequencies(const RopeConfig& c, int64_t dim) {
  double low = YarnCorrectionDim(c.beta_fast, dim, c.theta, c.original_max_position_embeddings);
  double high = YarnCorrectionDim(c.beta_slow, dim, c.theta, c.original_max_position_embeddings);
  if (c.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
  std::vector<double> freqs(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double f = 1.0 / std::pow(c.theta, static_cast<double>(2 * i) / static_cast<double>(dim));
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1 - ramp;
    freqs[i] = f / c.factor * (1 - extrapolation) + f * extrapolation;
  }
  return freqs;
}

}  // namespace

double YarnMscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double RopeAttentionFactor(const RopeConfig& c) {
  if (c.scaling_type != "yarn") return 1.0;
  if (c.attention_factor) return *c.attention_factor;
  if (c.mscale != 0 && c.mscale_all_dim != 0) {
    return YarnMscale(c.factor, c.mscale) / YarnMscale(c.factor, c.mscale_all_dim);
  }
  return YarnMscale(c.factor);
}

absl::StatusOr<std::vector<double>> RopeInverseFrequencies(const RopeConfig& c) {
  const int64_t dim = c.rotary_dim == 0 ? c.head_dim : c.rotary_dim;
  if (c.head_dim <= 0 || dim <= 0 || dim > c.head_dim || dim % 2 != 0 || c.theta <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("RoPE: bad config (head_dim ", c.head_dim,
                                                   ", rotary_dim ", c.rotary_dim, ", theta ",
                                                   c.theta, "); rotary_dim must be even"));
  }
  const bool linear = c.scaling_type == "linear";
  const bool llama3 = c.scaling_type == "llama3";
  const bool yarn = c.scaling_type == "yarn";
  if (!linear && !llama3 && !yarn && c.scaling_type != "default" && !c.scaling_type.empty()) {
    return absl::UnimplementedError(
        absl::StrCat("RoPE: rope_scaling type \"", c.scaling_type,
                     "\" is not supported (supported: default, linear, llama3, yarn)"));
  }
  if ((linear || llama3 || yarn) && c.factor <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RoPE: ", c.scaling_type, " scaling factor must be positive, got ", c.factor));
  }
  if (llama3 && !(c.high_freq_factor > c.low_freq_factor && c.low_freq_factor > 0 &&
                  c.original_max_position_embeddings > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RoPE: llama3 scaling needs high_freq_factor > low_freq_factor > 0, got ",
                     c.high_freq_factor, " and ", c.low_freq_factor));
  }
  if (yarn && !(c.original_max_position_embeddings > 0 && c.beta_fast > 0 && c.beta_slow > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RoPE: yarn scaling needs positive original_max_position_embeddings, beta_fast and "
        "beta_slow, got ",
        c.original_max_position_embeddings, ", ", c.beta_fast, " and ", c.beta_slow));
  }
  if (yarn) return YarnFrequencies(c, dim);
  std::vector<double> freqs(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    double f = 1.0 / std::pow(c.theta, static_cast<double>(2 * i) / static_cast<double>(dim));
    if (linear) f /= c.factor;
    if (llama3) f = Llama3Frequency(c, f);
    freqs[i] = f;
  }
  return freqs;
}

absl::Status ApplyRope(const RopeConfig& config, const Tensor& positions, const Tensor& x,
                       int64_t heads, int threads) {
  SY_ASSIGN_OR_RETURN(const std::vector<double> freqs, RopeInverseFrequencies(config));
  SY_RETURN_IF_ERROR(CheckCpuTensor(x, "RoPE x", 2, {DType::kF32}));
  SY_RETURN_IF_ERROR(CheckCpuTensor(positions, "RoPE positions", 1, {DType::kI32, DType::kI64}));
  if (heads <= 0 || x.dim(1) != heads * config.head_dim || positions.dim(0) != x.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("RoPE: x ", x.Describe(), " is not [positions, ",
                                                   heads, " heads * head_dim ", config.head_dim,
                                                   "] for positions ", positions.Describe()));
  }
  const int64_t tokens = x.dim(0);
  const int64_t half = static_cast<int64_t>(freqs.size());
  const int64_t width = x.dim(1);
  float* data = x.data<float>();
  const bool i64 = positions.dtype() == DType::kI64;
  const double attention_factor = RopeAttentionFactor(config);
  // Lane i's partner: i + half (rotate_half), or i + 1 with i = 2 * pair (interleaved).
  const int64_t stride = config.interleaved ? 2 : 1;
  const int64_t partner = config.interleaved ? 1 : half;
  ParallelFor(threads, tokens, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> cos(half), sin(half);
    for (int64_t t = begin; t < end; ++t) {
      const double p = i64 ? static_cast<double>(positions.data<int64_t>()[t])
                           : static_cast<double>(positions.data<int32_t>()[t]);
      for (int64_t i = 0; i < half; ++i) {
        cos[i] = static_cast<float>(std::cos(p * freqs[i]) * attention_factor);
        sin[i] = static_cast<float>(std::sin(p * freqs[i]) * attention_factor);
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = data + t * width + h * config.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float* first = v + i * stride;
          const float a = first[0];
          const float b = first[partner];
          first[0] = a * cos[i] - b * sin[i];
          first[partner] = b * cos[i] + a * sin[i];
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace sy
