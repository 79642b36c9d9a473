// Token sampling from logits: repetition penalty, then temperature (0 = greedy), top-k,
// top-p and min-p, then a draw from a counter-based RNG, so a given seed reproduces the same
// tokens on every platform and standard library.
#ifndef SWITCHYARD_CORE_RUNTIME_SAMPLER_H_
#define SWITCHYARD_CORE_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sy {

struct SamplingParams {
  float temperature = 1.0f;         // 0 picks the argmax
  int32_t top_k = 0;                // 0: no limit
  float top_p = 1.0f;               // nucleus: the smallest set with probability >= top_p
  float min_p = 0.0f;               // drop tokens below min_p * the top probability
  float repetition_penalty = 1.0f;  // HF semantics; 1 is none
  uint64_t seed = 0;
  int32_t max_tokens = 256;
  std::vector<std::string> stop{};  // stop strings, matched on the decoded text

  // InvalidArgument naming the first field out of range, e.g. "top_p must be in (0, 1], got 1.5".
  absl::Status Validate() const;
};

class Sampler {
 public:
  static absl::StatusOr<Sampler> Create(const SamplingParams& params);

  // The next token from `logits` [vocab], given the tokens so far (prompt and generated)
  // for the repetition penalty. Each call is one step of the random stream.
  int32_t Sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history);

  // The step of the random stream the next token draws at, advancing past it: for a sampler
  // elsewhere (the GPU's, kernels/dense) that draws this step's token in Sample's place.
  uint64_t TakeStep() { return step_++; }

  const SamplingParams& params() const { return params_; }

 private:
  explicit Sampler(const SamplingParams& params) : params_(params) {}
  // Uniform in [0, 1) from splitmix64 at (seed, step): no state but the step counter.
  double NextUniform();

  SamplingParams params_;
  uint64_t step_ = 0;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_RUNTIME_SAMPLER_H_
