#include "core/runtime/stop_matcher.h"

#include <algorithm>

namespace sy {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase(stops_, std::string());
}

size_t StopMatcher::HoldBack(absl::string_view text) const {
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t longest = std::min(text.size(), stop.size() - 1);
    for (size_t n = longest; n > hold; --n) {
      if (text.substr(text.size() - n) == absl::string_view(stop).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}

StopMatcher::Step StopMatcher::Push(absl::string_view chunk) {
  if (stopped_) return {};
  pending_.append(chunk.data(), chunk.size());
  // Everything printed before could not start a stop string, so searching what is pending
  // finds any stop string that spans chunks.
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    Step step{pending_.substr(0, first), true};
    pending_.clear();
    return step;
  }
  const size_t emit = pending_.size() - HoldBack(pending_);
  Step step{pending_.substr(0, emit), false};
  pending_.erase(0, emit);
  return step;
}

std::string StopMatcher::Flush() {
  std::string text = stopped_ ? "" : pending_;
  pending_.clear();
  return text;
}

}  // namespace sy
