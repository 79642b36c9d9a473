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
inline constexpr const char* kSideKeys =
    "router, quantizer, experts, expert_cache, capacity, overflow, comm, ranks";

// The most in-process ranks a side may ask for: each loads the whole checkpoint.
inline constexpr int kMaxRanks = 64;

struct SideSpec {
  ModelOptions model;
  // Expert parallelism: the comm backend (kind.name) the side's MoE layers exchange tokens
  // through, over `ranks` ranks that run as threads of this process; empty: no expert
  // parallelism, one model computes every expert (the model as loaded).
  std::string comm;
  int ranks = 1;
};

// Parses `spec`:
//   router=K.N      every MoE layer's router
//   quantizer=K.N   expert-weight quantizer; "none" (or quantizer.none) keeps f32/bf16 weights
//   experts=K.N     the experts component (default experts.cpu, as the model runtime's)
//   expert_cache=N  the experts component's cacheExperts (experts.cuda: keep N of each layer's
//                   experts on the GPU, the rest in host memory, with prefetch; N >= 1)
//   capacity=F      capacity factor F > 0 (core/moe/capacity.h)
//   overflow=drop|reroute   what capacity limiting does with the overflow (default drop)
//   comm=K.N        run expert-parallel, dispatching and combining through this comm backend
//   ranks=N         over N in-process ranks (default 1; 1..kMaxRanks); needs comm
// An empty spec is the model as loaded. Unknown keys, repeated keys, a missing '=' and bad
// values are InvalidArgument errors naming the part. Component names are checked at load.
absl::StatusOr<SideSpec> ParseSide(absl::string_view spec);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_SPEC_H_
