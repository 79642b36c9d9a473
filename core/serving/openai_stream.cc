#include "core/serving/openai_stream.h"

#include "absl/strings/str_cat.h"
#include "core/serving/openai_error.h"

namespace sy::openai {
namespace {

constexpr absl::string_view kKeepAlive = ": keep-alive\n\n";

absl::Status AbortedError() {
  return absl::UnavailableError("The request was aborted: the server is shutting down.");
}

void CancelEach(const Streams& streams) {
  for (const auto& stream : streams) stream->Cancel();
}

}  // namespace

absl::StatusOr<nlohmann::ordered_json> CollectAnswer(const ResponseFormat& format,
                                                     const Streams& streams,
                                                     const std::atomic<bool>& give_up,
                                                     std::chrono::milliseconds poll) {
  std::vector<ChoiceOutcome> choices;
  Usage usage;
  for (const auto& stream : streams) {
    ChoiceOutcome choice;
    for (;;) {
      std::optional<StreamEvent> event = stream->NextFor(poll);
      if (!event) {
        if (!give_up) continue;
        CancelEach(streams);
        return AbortedError();
      }
      choice.text += event->text;
      if (!event->finished) continue;
      if (!event->error.ok()) {
        CancelEach(streams);
        return event->error;
      }
      if (event->finish_reason == "abort") {
        CancelEach(streams);
        return AbortedError();
      }
      choice.finish_reason = event->finish_reason;
      usage.prompt_tokens += event->prompt_tokens;
      usage.completion_tokens += event->completion_tokens;
      break;
    }
    choices.push_back(std::move(choice));
  }
  return format.Complete(choices, usage);
}

bool SseWriter::Pump(const Write& write, std::chrono::milliseconds wait) {
  if (done_) return true;
  if (current_ == streams_.size()) {
    std::string tail;
    if (include_usage_) tail = SseEvent(format_.UsageChunk(usage_));
    tail += kSseDone;
    done_ = true;
    return write(tail);
  }
  std::string out;
  if (!opened_) {
    opened_ = true;
    if (format_.endpoint() == Endpoint::kChat)
      out = SseEvent(format_.RoleChunk(static_cast<int>(current_)));
  }
  std::optional<StreamEvent> event = streams_[current_]->NextFor(wait);
  if (!event) return write(out.empty() ? kKeepAlive : out);
  const int index = static_cast<int>(current_);
  if (!event->text.empty()) out += SseEvent(format_.TextChunk(index, event->text));
  if (event->finished) {
    usage_.prompt_tokens += event->prompt_tokens;
    usage_.completion_tokens += event->completion_tokens;
    // A failed request ends its choice with an error event, as vLLM streams errors.
    out += event->error.ok() ? SseEvent(format_.FinishChunk(index, event->finish_reason))
                             : absl::StrCat("data: ", ToApiError(event->error).Body(), "\n\n");
    ++current_;
    opened_ = false;
  }
  // An event can carry tokens but no text yet (half of a UTF-8 character).
  return out.empty() || write(out);
}

void SseWriter::CancelAll() { CancelEach(streams_); }

}  // namespace sy::openai
