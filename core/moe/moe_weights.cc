#include "core/moe/moe_weights.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/tensor/tensor_random.h"

namespace sy {
namespace {

absl::StatusOr<Tensor> Linear(int64_t out, int64_t in, uint64_t seed) {
  return RandomNormal({out, in}, seed, 0.0f,
                      static_cast<float>(1.0 / std::sqrt(static_cast<double>(in))));
}

absl::Status CheckTensor(const Tensor& t, const Shape& shape, const std::string& name) {
  if (!t.defined() || t.dtype() != DType::kF32 || t.shape() != shape || !t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("MoE weight ", name, " must be contiguous f32 ",
                                                   ShapeToString(shape), ", got ",
                                                   t.defined() ? t.Describe() : "nothing"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MoeWeights> MoeWeights::Random(const MoeShape& shape, uint64_t seed) {
  if (shape.experts < 1 || shape.hidden < 1 || shape.intermediate < 1 ||
      shape.shared_intermediate < 0) {
    return absl::InvalidArgumentError("MoE shape needs at least one expert and positive sizes");
  }
  MoeWeights w;
  uint64_t stream = seed * 1000003;
  SY_ASSIGN_OR_RETURN(w.router, Linear(shape.experts, shape.hidden, stream++));
  for (int e = 0; e < shape.experts; ++e) {
    SY_ASSIGN_OR_RETURN(Tensor gate_up, Linear(2 * shape.intermediate, shape.hidden, stream++));
    SY_ASSIGN_OR_RETURN(Tensor down, Linear(shape.hidden, shape.intermediate, stream++));
    w.gate_up.push_back(std::move(gate_up));
    w.down.push_back(std::move(down));
  }
  if (shape.shared_intermediate > 0) {
    SY_ASSIGN_OR_RETURN(w.shared_gate_up,
                        Linear(2 * shape.shared_intermediate, shape.hidden, stream++));
    SY_ASSIGN_OR_RETURN(w.shared_down, Linear(shape.hidden, shape.shared_intermediate, stream++));
    if (shape.shared_gate) {
      SY_ASSIGN_OR_RETURN(Tensor gate, Linear(1, shape.hidden, stream++));
      SY_ASSIGN_OR_RETURN(w.shared_gate, gate.Reshape({shape.hidden}));
    }
  }
  return w;
}

MoeShape MoeWeights::shape() const {
  MoeShape s;
  s.experts = static_cast<int>(gate_up.size());
  s.hidden = router.defined() ? router.dim(1) : 0;
  s.intermediate = gate_up.empty() ? 0 : gate_up[0].dim(0) / 2;
  s.shared_intermediate = shared_down ? shared_down->dim(1) : 0;
  s.shared_gate = shared_gate.has_value();
  return s;
}

absl::Status MoeWeights::Validate() const {
  if (!router.defined() || router.ndim() != 2)
    return absl::InvalidArgumentError("MoE weights need a router matrix [experts, hidden]");
  const MoeShape s = shape();
  if (static_cast<int64_t>(s.experts) != router.dim(0) || down.size() != gate_up.size()) {
    return absl::InvalidArgumentError(absl::StrCat("MoE weights: the router scores ", router.dim(0),
                                                   " experts but there are ", gate_up.size(),
                                                   " gate_up and ", down.size(), " down matrices"));
  }
  SY_RETURN_IF_ERROR(CheckTensor(router, {s.experts, s.hidden}, "router"));
  for (int e = 0; e < s.experts; ++e) {
    SY_RETURN_IF_ERROR(CheckTensor(gate_up[e], {2 * s.intermediate, s.hidden},
                                   absl::StrCat("experts.", e, ".gate_up")));
    SY_RETURN_IF_ERROR(
        CheckTensor(down[e], {s.hidden, s.intermediate}, absl::StrCat("experts.", e, ".down")));
  }
  if (correction_bias)
    SY_RETURN_IF_ERROR(CheckTensor(*correction_bias, {s.experts}, "correction_bias"));
  if (router_bias) SY_RETURN_IF_ERROR(CheckTensor(*router_bias, {s.experts}, "router_bias"));
  if (gate_up_bias) {
    SY_RETURN_IF_ERROR(
        CheckTensor(*gate_up_bias, {s.experts, 2 * s.intermediate}, "experts.gate_up_bias"));
  }
  if (down_bias) {
    SY_RETURN_IF_ERROR(CheckTensor(*down_bias, {s.experts, s.hidden}, "experts.down_bias"));
  }
  if (shared_gate_up.has_value() != shared_down.has_value()) {
    return absl::InvalidArgumentError("MoE weights: the shared expert needs both gate_up and down");
  }
  if (shared_gate_up) {
    SY_RETURN_IF_ERROR(CheckTensor(*shared_gate_up, {2 * s.shared_intermediate, s.hidden},
                                   "shared_expert.gate_up"));
  }
  if (shared_gate) SY_RETURN_IF_ERROR(CheckTensor(*shared_gate, {s.hidden}, "shared_expert.gate"));
  return absl::OkStatus();
}

}  // namespace sy
