#include "core/ab/ab_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sy::ab {

std::vector<double> LogSoftmax(const float* logits, int64_t vocab) {
  std::vector<double> out(logits, logits + vocab);
  const double max = *std::max_element(out.begin(), out.end());
  double sum = 0;
  for (double v : out) sum += std::exp(v - max);
  const double log_z = max + std::log(sum);
  for (double& v : out) v -= log_z;
  return out;
}

double KlDivergence(const std::vector<double>& log_p, const std::vector<double>& log_q) {
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) kl += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  return std::max(kl, 0.0);
}

int64_t Argmax(const float* values, int64_t n) {
  return std::max_element(values, values + n) - values;
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(samples.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, samples.size() - 1);
  return samples[below] + (rank - static_cast<double>(below)) * (samples[above] - samples[below]);
}

std::vector<int> HotExperts(const std::vector<int64_t>& tokens_per_expert, int n) {
  std::vector<int> ids(tokens_per_expert.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int a, int b) { return tokens_per_expert[a] > tokens_per_expert[b]; });
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(std::max(n, 0))));
  return ids;
}

}  // namespace sy::ab
