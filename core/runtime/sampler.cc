#include "core/runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace sy {
namespace {

absl::Status OutOfRange(absl::string_view what, double got) {
  return absl::InvalidArgumentError(absl::StrCat(what, ", got ", got));
}

struct Candidate {
  int32_t id;
  double score;  // logit, then probability
};

// Penalizes each token of `history` once (HF's RepetitionPenaltyLogitsProcessor): positive
// logits are divided by the penalty and negative ones multiplied, so both become less likely.
void ApplyRepetitionPenalty(float penalty, const std::vector<int32_t>& history,
                            std::vector<float>& scores) {
  if (penalty == 1.0f) return;
  std::vector<bool> seen(scores.size());
  for (int32_t id : history) {
    if (id < 0 || static_cast<size_t>(id) >= scores.size() || seen[id]) continue;
    seen[id] = true;
    scores[id] = scores[id] > 0 ? scores[id] / penalty : scores[id] * penalty;
  }
}

// The highest score, the lowest id among ties; NaN never wins.
int32_t Argmax(const std::vector<float>& scores) {
  int32_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best] || std::isnan(scores[best])) best = static_cast<int32_t>(i);
  }
  return best;
}

// The logits that are not NaN or -inf, in descending order (ties by id), cut to `keep`.
std::vector<Candidate> SortedCandidates(const std::vector<float>& scores, size_t keep) {
  std::vector<Candidate> out;
  out.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool live = !std::isnan(scores[i]) && scores[i] > -std::numeric_limits<float>::infinity();
    if (live) out.push_back({static_cast<int32_t>(i), scores[i]});
  }
  const auto before = [](const Candidate& a, const Candidate& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  };
  keep = std::min(keep, out.size());
  std::partial_sort(out.begin(), out.begin() + keep, out.end(), before);
  out.resize(keep);
  return out;
}

// Turns scores into probabilities (softmax at `temperature`) over the candidates.
void Softmax(double temperature, std::vector<Candidate>& c) {
  const double max = c[0].score;
  double sum = 0;
  for (Candidate& x : c) sum += x.score = std::exp((x.score - max) / temperature);
  for (Candidate& x : c) x.score /= sum;
}

// Keeps the smallest prefix whose probability reaches `top_p` (at least one token).
void TopP(double top_p, std::vector<Candidate>& c) {
  if (top_p >= 1) return;
  double total = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    total += c[i].score;
    if (total >= top_p) {
      c.resize(i + 1);
      return;
    }
  }
}

// Keeps the tokens at least `min_p` times as likely as the most likely one.
void MinP(double min_p, std::vector<Candidate>& c) {
  const double threshold = min_p * c[0].score;
  while (c.size() > 1 && c.back().score < threshold) c.pop_back();
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) {
    return OutOfRange("temperature must be >= 0 and finite", temperature);
  }
  if (top_k < 0) return OutOfRange("top_k must be >= 0 (0 disables it)", top_k);
  if (!(top_p > 0 && top_p <= 1)) return OutOfRange("top_p must be in (0, 1]", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return OutOfRange("min_p must be in [0, 1]", min_p);
  if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty)) {
    return OutOfRange("repetition_penalty must be > 0 and finite", repetition_penalty);
  }
  if (max_tokens <= 0) return OutOfRange("max_tokens must be > 0", max_tokens);
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] is empty"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Sampler> Sampler::Create(const SamplingParams& params) {
  if (absl::Status valid = params.Validate(); !valid.ok()) return valid;
  return Sampler(params);
}

double Sampler::NextUniform() {
  const uint64_t bits = SplitMix64(params_.seed + TakeStep() * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

int32_t Sampler::Sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history) {
  std::vector<float> scores(logits, logits + vocab);
  ApplyRepetitionPenalty(params_.repetition_penalty, history, scores);
  const double u = NextUniform();  // drawn even when greedy, so steps stay aligned
  if (params_.temperature == 0) return Argmax(scores);
  const size_t keep = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : scores.size();
  std::vector<Candidate> c = SortedCandidates(scores, keep);
  if (c.empty()) return Argmax(scores);        // every logit is -inf or NaN
  if (std::isinf(c[0].score)) return c[0].id;  // +inf is certain
  Softmax(params_.temperature, c);
  TopP(params_.top_p, c);
  MinP(params_.min_p, c);
  double total = 0;
  for (const Candidate& x : c) total += x.score;
  double target = u * total;
  for (const Candidate& x : c) {
    target -= x.score;
    if (target < 0) return x.id;
  }
  return c.back().id;  // rounding left target at 0
}

}  // namespace sy
