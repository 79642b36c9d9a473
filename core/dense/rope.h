// Rotary position embedding in transformers' "rotate_half" (GPT-NeoX) layout: within each head
// the first rotary_dim lanes are two halves, lane i pairs with lane i + rotary_dim / 2, and
//   out[i]        = x[i] * cos(p * f_i) - x[i + half] * sin(p * f_i)
//   out[i + half] = x[i + half] * cos(p * f_i) + x[i] * sin(p * f_i)
// with f_i = 1 / theta^(2i / rotary_dim). Lanes past rotary_dim pass through (partial rotary).
//
// Scaling ("rope_type" / "type" of config.json's rope_scaling), applied to the frequencies once:
//   "default" (or ""): none.
//   "linear": f_i / factor, i.e. positions divided by factor.
//   "llama3": transformers' _compute_llama3_parameters — wavelengths longer than
//     original_max_position_embeddings / low_freq_factor are divided by factor, shorter than
//     .../ high_freq_factor kept, and those between blended smoothly.
//   "yarn": transformers' _compute_yarn_parameters — f_i / factor (interpolation) for the
//     low-frequency lanes, f_i (extrapolation) for the high ones, a linear ramp between the
//     correction dims of beta_fast and beta_slow rotations over original_max_position_embeddings
//     (floored/ceiled unless truncate = false); cos and sin are multiplied by the attention
//     factor (RopeAttentionFactor).
// Anything else ("dynamic", "longrope", ...) is refused with an error naming the type.
//
// interleaved = true is DeepSeek's layout (transformers' apply_rotary_pos_emb_interleave): lane
// 2i pairs with lane 2i + 1 at frequency f_i. transformers writes the rotated pairs back
// de-interleaved (evens, then odds); this keeps them in place. Only dot products of rotated q and
// k are ever taken, and both get the same layout, so attention is the same.
// Angles and their sines are computed in double and rounded to f32, a hair more exact than
// transformers' f32 arithmetic.
#ifndef SWITCHYARD_CORE_DENSE_ROPE_H_
#define SWITCHYARD_CORE_DENSE_ROPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

struct RopeConfig {
  int64_t head_dim = 0;
  double theta = 10000.0;
  int64_t rotary_dim = 0;  // lanes rotated per head; 0 = head_dim. Must be even.
  std::string scaling_type = "default";
  double factor = 1.0;
  bool interleaved = false;
  // "llama3" only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;  // "llama3" and "yarn"
  // "yarn" only.
  double beta_fast = 32;
  double beta_slow = 1;
  bool truncate = true;
  double mscale = 0;          // 0: absent
  double mscale_all_dim = 0;  // 0: absent
  std::optional<double> attention_factor = std::nullopt;
};

// transformers' yarn get_mscale: 1 for scale <= 1, else 0.1 * mscale * ln(scale) + 1.
double YarnMscale(double scale, double mscale = 1.0);

// The factor cos and sin are multiplied by: 1 except for "yarn", where it is attention_factor
// when given, else YarnMscale(factor, mscale) / YarnMscale(factor, mscale_all_dim) when both
// are set, else YarnMscale(factor).
double RopeAttentionFactor(const RopeConfig& config);

// The rotary_dim / 2 (scaled) inverse frequencies f_i, or an error for a bad config.
absl::StatusOr<std::vector<double>> RopeInverseFrequencies(const RopeConfig& config);

// Rotates x [T, heads * head_dim] f32 in place; positions [T] is i32 or i64 (absolute positions
// in the sequence). Call once for q and once for k. Tokens are split over `threads`.
absl::Status ApplyRope(const RopeConfig& config, const Tensor& positions, const Tensor& x,
                       int64_t heads, int threads = 1);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_ROPE_H_
