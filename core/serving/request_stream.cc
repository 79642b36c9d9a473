// RequestStream: the hand-off between the engine thread and a request's reader.
#include <condition_variable>
#include <mutex>

#include "core/serving/engine.h"

namespace sy {

struct RequestStream::State {
  std::mutex mu;
  std::condition_variable ready;
  std::string text;
  int32_t tokens = 0;
  bool finished = false;
  std::string finish_reason;
  absl::Status error;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  bool cancelled = false;

  bool HasNews() const { return !text.empty() || finished; }
  StreamEvent Take() {
    StreamEvent event;
    event.text = std::move(text);
    text.clear();
    event.tokens = tokens;
    tokens = 0;
    event.finished = finished;
    if (finished) {
      event.finish_reason = finish_reason;
      event.error = error;
      event.prompt_tokens = prompt_tokens;
      event.completion_tokens = completion_tokens;
    }
    return event;
  }
};

std::shared_ptr<RequestStream::State> RequestStream::MakeState() {
  return std::make_shared<State>();
}

StreamEvent RequestStream::Next() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->ready.wait(lock, [&] { return state_->HasNews(); });
  return state_->Take();
}

std::optional<StreamEvent> RequestStream::NextFor(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  if (!state_->ready.wait_for(lock, timeout, [&] { return state_->HasNews(); })) {
    return std::nullopt;
  }
  return state_->Take();
}

void RequestStream::Cancel() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->cancelled = true;
}

bool RequestStream::cancelled() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->cancelled;
}

void RequestStream::Push(const std::string& text, int32_t tokens) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->text += text;
    state_->tokens += tokens;
  }
  if (!text.empty()) state_->ready.notify_all();
}

void RequestStream::Finish(const std::string& reason, absl::Status error, int64_t prompt_tokens,
                           int64_t completion_tokens) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->finished = true;
    state_->finish_reason = reason;
    state_->error = std::move(error);
    state_->prompt_tokens = prompt_tokens;
    state_->completion_tokens = completion_tokens;
  }
  state_->ready.notify_all();
}

}  // namespace sy
