// The arithmetic an A/B comparison reports: next-token distributions compared in double
// precision (float log-softmax loses the tail that KL divergence is made of), percentiles of
// latency samples, and the hottest experts of a layer.
#ifndef SWITCHYARD_CORE_AB_AB_STATS_H_
#define SWITCHYARD_CORE_AB_AB_STATS_H_

#include <cstdint>
#include <vector>

namespace sy::ab {

// log softmax(logits) over `vocab` entries, in double.
std::vector<double> LogSoftmax(const float* logits, int64_t vocab);

// KL(P‖Q) = Σ p·(log p − log q) in nats, from two log-probability vectors of equal length.
// Zero for identical inputs; never negative (tiny rounding below zero is clamped).
double KlDivergence(const std::vector<double>& log_p, const std::vector<double>& log_q);

// The index of the largest value (the first one on ties).
int64_t Argmax(const float* values, int64_t n);

// The p-th percentile (p in [0, 100]) with linear interpolation between the closest ranks
// (numpy's default), so P50 of {1, 2, 3, 4} is 2.5. 0 for no samples.
double Percentile(std::vector<double> samples, double p);

// The `n` experts with the most routing slots, busiest first (lower id first on ties).
std::vector<int> HotExperts(const std::vector<int64_t>& tokens_per_expert, int n);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_STATS_H_
