// Router plugins: the argument checks every route() makes, and reading a row of logits.
// Header-only, part of the SDK: in-tree and vendor routers refuse a bad batch with the same
// messages ("logits: expected contiguous CPU f32 or bf16 [tokens, experts], got ...").
//
//   void Route(const sy::ExecContext&, const sy_router_args& args) override {
//     const sy::RouterCall call = sy::CheckRouterCall(args, k_);
//     std::vector<float> row(call.experts);
//     for (int64_t t = 0; t < call.tokens; ++t) {
//       call.LoadRow(t, row.data());
//       ...  // write call.ids[t * k_ + j] and call.weights[t * k_ + j], j < k_
//     }
//   }
//
// A RouterCall borrows the tensors of the sy_router_args it was checked from; it owns nothing
// and must not outlive the route() call that received them. Inputs only some routers take
// (token_ids, correction_bias) are theirs to check.
#ifndef SWITCHYARD_ROUTER_SUPPORT_HPP_
#define SWITCHYARD_ROUTER_SUPPORT_HPP_

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "switchyard/dtype.hpp"
#include "switchyard/plugin_abi.h"
#include "switchyard/tensor_view.hpp"

namespace sy {

// One checked route() call: logits f32 or bf16 [tokens, experts], contiguous on the CPU and
// all finite; k <= experts; ids (i32) and weights (f32) contiguous [tokens, k], row-major.
struct RouterCall {
  TensorView logits;
  int64_t tokens;
  int64_t experts;
  int32_t* ids;
  float* weights;

  // Writes row `token` of the logits to out[0, experts) in f32 (bf16 widens exactly).
  void LoadRow(int64_t token, float* out) const {
    if (logits.dtype() == DType::kF32) {
      const float* src = logits.data<const float>() + token * experts;
      std::copy(src, src + experts, out);
    } else {
      const uint16_t* src = logits.data<const uint16_t>() + token * experts;
      for (int64_t e = 0; e < experts; ++e) out[e] = BF16ToF32(src[e]);
    }
  }
};

// Checks the logits (layout, then finiteness), that k distinct experts exist, and the two
// outputs, in that order; throws std::invalid_argument (an sy_error through the SDK) naming
// the first problem. Rejecting NaN/Inf here keeps them out of every routing rule's sorts.
inline RouterCall CheckRouterCall(const sy_router_args& args, int32_t k) {
  const TensorView logits(*args.logits);
  if (!logits.on_cpu() || logits.ndim() != 2 || !logits.is_contiguous() ||
      (logits.dtype() != DType::kF32 && logits.dtype() != DType::kBF16)) {
    throw std::invalid_argument(
        "logits: expected contiguous CPU f32 or bf16 [tokens, experts], got " + logits.Describe());
  }
  logits.RequireFinite("logits");
  const int64_t experts = logits.dim(1);
  if (k > experts) {
    throw std::invalid_argument("k = " + std::to_string(k) + " exceeds the " +
                                std::to_string(experts) + " experts");
  }
  TensorView(*args.expert_ids).RequireCpuContiguous("expert_ids", 2, DType::kI32);
  TensorView(*args.expert_weights).RequireCpuContiguous("expert_weights", 2, DType::kF32);
  return {logits, logits.dim(0), experts, static_cast<int32_t*>(args.expert_ids->data),
          static_cast<float*>(args.expert_weights->data)};
}

}  // namespace sy

#endif  // SWITCHYARD_ROUTER_SUPPORT_HPP_
