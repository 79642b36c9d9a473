#include "shells/switchyard/a2a_workload.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/moe/expert_parallel.h"

namespace sy::cli {

absl::StatusOr<A2aPayload> ParseA2aPayload(absl::string_view name) {
  if (name == "bf16") return A2aPayload::kBf16;
  if (name == "fp8") return A2aPayload::kFp8;
  return absl::InvalidArgumentError(absl::StrCat("unknown payload dtype '", name, "' (bf16, fp8)"));
}

std::string A2aPayloadName(A2aPayload payload) {
  return payload == A2aPayload::kBf16 ? "bf16" : "fp8";
}

int64_t DispatchRowBytes(A2aPayload payload, int64_t hidden) {
  return DispatchHiddenBytes(
      payload == A2aPayload::kBf16 ? DispatchDType::kBF16 : DispatchDType::kFP8, hidden);
}

std::vector<int32_t> RoutedExperts(const A2aShape& shape, int rank, uint64_t seed) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(rank)};
  std::mt19937_64 rng(seq);
  const int64_t k = std::min(shape.top_k, shape.experts);
  std::vector<int32_t> ids;
  ids.reserve(shape.tokens * k);
  for (int64_t t = 0; t < shape.tokens; ++t) {
    const auto first = ids.end() - ids.begin();
    while (std::ssize(ids) - first < k) {
      // A modulo keeps the stream the same on every standard library; its bias is ~2^-56.
      const auto e = static_cast<int32_t>(rng() % static_cast<uint64_t>(shape.experts));
      if (std::find(ids.begin() + first, ids.end(), e) == ids.end()) ids.push_back(e);
    }
  }
  return ids;
}

std::vector<int64_t> DispatchCounts(const A2aShape& shape, int rank, uint64_t seed) {
  const int64_t per_rank = (shape.experts + shape.world - 1) / shape.world;
  const int64_t k = std::min(shape.top_k, shape.experts);
  const std::vector<int32_t> ids = RoutedExperts(shape, rank, seed);
  std::vector<int64_t> counts(shape.world, 0);
  std::vector<bool> reached(shape.world);
  for (int64_t t = 0; t < shape.tokens; ++t) {
    std::fill(reached.begin(), reached.end(), false);
    for (int64_t j = 0; j < k; ++j) reached[ids[t * k + j] / per_rank] = true;
    for (int p = 0; p < shape.world; ++p) counts[p] += reached[p];
  }
  return counts;
}

}  // namespace sy::cli
