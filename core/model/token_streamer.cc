#include "core/model/token_streamer.h"

#include <algorithm>

namespace sy {

TokenStreamer::TokenStreamer(const BpeTokenizer& tokenizer, const SamplingParams& params,
                             std::vector<int64_t> eos_ids, bool ignore_eos)
    : max_tokens_(params.max_tokens),
      eos_ids_(std::move(eos_ids)),
      ignore_eos_(ignore_eos),
      decoder_(tokenizer),
      stops_(params.stop) {}

TokenStreamer::Step TokenStreamer::Push(int32_t token) {
  Step step;
  if (finished()) return step;
  if (!ignore_eos_ && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()) {
    step.text = Finish("stop");
    step.finished = true;
    return step;
  }
  tokens_.push_back(token);
  const StopMatcher::Step matched = stops_.Push(decoder_.Push(token));
  step.text = matched.text;
  if (matched.stopped) {
    finish_reason_ = "stop";
  } else if (static_cast<int32_t>(tokens_.size()) >= max_tokens_) {
    step.text += Finish("length");
  }
  step.finished = finished();
  return step;
}

std::string TokenStreamer::Finish(const std::string& reason) {
  if (finished()) return "";
  finish_reason_ = reason;
  return Flush();
}

std::string TokenStreamer::Flush() {
  // What the decoder and the stop matcher still hold is output, unless it completes a stop.
  const StopMatcher::Step tail = stops_.Push(decoder_.Flush());
  return tail.stopped ? tail.text : tail.text + stops_.Flush();
}

}  // namespace sy
