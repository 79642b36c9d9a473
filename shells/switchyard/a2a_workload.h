// The exchange `switchyard bench a2a` times: the dispatch and combine of expert parallelism with
// seeded uniform-random top-k routing over experts sharded contiguously over the ranks. A token
// goes once to every rank that holds at least one of its experts (as core/moe/expert_parallel.cc
// and TensorRT-LLM's NVLinkOneSided send it), and comes back once from each as a bf16 row.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_A2A_WORKLOAD_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_A2A_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sy::cli {

struct A2aShape {
  int64_t tokens = 0;  // per rank
  int64_t hidden = 7168;
  int64_t top_k = 8;
  int64_t experts = 256;
  int world = 1;
};

// How a dispatched row is carried: bf16 (2H bytes), or fp8 e4m3 (H bytes) followed by one f32
// scale per block of 128 values. Either way the comm backend moves plain byte rows.
enum class A2aPayload { kBf16, kFp8 };
absl::StatusOr<A2aPayload> ParseA2aPayload(absl::string_view name);
std::string A2aPayloadName(A2aPayload payload);
int64_t DispatchRowBytes(A2aPayload payload, int64_t hidden);
// Combine rows are always bf16: 2H bytes.
inline int64_t CombineRowBytes(int64_t hidden) { return 2 * hidden; }

// The experts `rank`'s tokens route to, [tokens, min(top_k, experts)]: each token picks distinct
// experts uniformly (a generator seeded by `seed` and `rank`, the same on every machine).
std::vector<int32_t> RoutedExperts(const A2aShape& shape, int rank, uint64_t seed);
// Rows `rank` sends each rank in dispatch (world entries): each token of RoutedExperts counts
// once for every rank holding one of its experts (ceil(experts / world) experts per rank, in
// order). Every rank can compute every other rank's counts.
std::vector<int64_t> DispatchCounts(const A2aShape& shape, int rank, uint64_t seed);

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_A2A_WORKLOAD_H_
