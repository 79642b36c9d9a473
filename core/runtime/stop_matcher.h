// Stop strings over streamed text. Text that could be the start of a stop string is held
// back until the next chunk settles it, so a stream never prints any part of a stop string.
#ifndef SWITCHYARD_CORE_RUNTIME_STOP_MATCHER_H_
#define SWITCHYARD_CORE_RUNTIME_STOP_MATCHER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sy {

class StopMatcher {
 public:
  // Empty stop strings are ignored (SamplingParams::Validate rejects them).
  explicit StopMatcher(std::vector<std::string> stops);

  struct Step {
    std::string text;      // safe to print now
    bool stopped = false;  // a stop string matched; `text` ends just before it
  };

  // Feeds the next decoded chunk. After a stop, further chunks yield nothing.
  Step Push(absl::string_view chunk);
  // The held-back text, once generation ends without a stop.
  std::string Flush();

  // The length of the longest suffix of `text` that is a proper prefix of a stop string:
  // how many trailing bytes must be held back.
  size_t HoldBack(absl::string_view text) const;

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_RUNTIME_STOP_MATCHER_H_
