// One side of an A/B test as the user writes it: a comma list of key=value that changes the
// model's MoE pipeline, e.g. "quantizer=quantizer.int4" or "router=router.hash,capacity=1.25".
#ifndef SWITCHYARD_CORE_AB_AB_SPEC_H_
#define SWITCHYARD_CORE_AB_AB_SPEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/moe_model.h"

namespace sy::ab {

// The keys a side accepts, for help texts and errors.
inline constexpr const char* kSideKeys = "router, quantizer, experts, capacity, overflow";

// Parses `spec` into model options:
//   router=K.N      every MoE layer's router
//   quantizer=K.N   expert-weight quantizer; "none" (or quantizer.none) keeps f32/bf16 weights
//   experts=K.N     the experts component (default experts.cpu, as the model runtime's)
//   capacity=F      capacity factor F > 0 (core/moe/capacity.h)
//   overflow=drop|reroute   what capacity limiting does with the overflow (default drop)
// An empty spec is the model as loaded. Unknown keys, repeated keys, a missing '=' and bad
// values are InvalidArgument errors naming the part. Component names are checked at load.
absl::StatusOr<ModelOptions> ParseSide(absl::string_view spec);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_SPEC_H_
