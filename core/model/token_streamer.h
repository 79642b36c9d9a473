// One sequence's sampled tokens turned into output: end-of-sequence detection, streamed text
// (complete UTF-8 characters only, never any part of a stop string), the max_tokens limit and
// the finish reason. Shared by Generate() and the serving engine, so both end a sequence the
// same way.
#ifndef SWITCHYARD_CORE_MODEL_TOKEN_STREAMER_H_
#define SWITCHYARD_CORE_MODEL_TOKEN_STREAMER_H_

#include <string>
#include <vector>

#include "core/runtime/sampler.h"
#include "core/runtime/stop_matcher.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace sy {

class TokenStreamer {
 public:
  // `tokenizer` must outlive the streamer. With ignore_eos, end-of-sequence tokens are
  // ordinary tokens (benchmarks that need exact output lengths).
  TokenStreamer(const BpeTokenizer& tokenizer, const SamplingParams& params,
                std::vector<int64_t> eos_ids, bool ignore_eos = false);

  struct Step {
    std::string text;  // safe to show now
    bool finished = false;
  };

  // Accepts the next sampled token. An end-of-sequence token finishes with "stop" and is not
  // part of the output; a stop string finishes with "stop"; the max_tokens-th token with
  // "length".
  Step Push(int32_t token);
  // Ends the sequence for another reason (e.g. the context is full): the held-back text.
  std::string Finish(const std::string& reason);

  bool finished() const { return !finish_reason_.empty(); }
  const std::string& finish_reason() const { return finish_reason_; }
  // Tokens that are part of the output (end-of-sequence tokens are not).
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::string Flush();

  int32_t max_tokens_;
  std::vector<int64_t> eos_ids_;
  bool ignore_eos_;
  BpeTokenizer::IncrementalDecoder decoder_;
  StopMatcher stops_;
  std::vector<int32_t> tokens_;
  std::string finish_reason_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_TOKEN_STREAMER_H_
