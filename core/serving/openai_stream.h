// Reading a request's engine streams into an OpenAI answer: all at once (CollectAnswer), or as
// server-sent events (SseWriter), choice after choice. Free of HTTP: the server hands in a
// write function, so tests drive these with streams they feed themselves.
#ifndef SWITCHYARD_CORE_SERVING_OPENAI_STREAM_H_
#define SWITCHYARD_CORE_SERVING_OPENAI_STREAM_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/serving/engine.h"
#include "core/serving/openai_response.h"

namespace sy::openai {

using Streams = std::vector<std::shared_ptr<RequestStream>>;

// Waits for every stream to finish and returns the whole answer. Errors: the engine's error for
// a failed request; Unavailable when a request was aborted (the server shut down without
// draining) or when `give_up` becomes true (checked every `poll`), which also cancels them.
absl::StatusOr<nlohmann::ordered_json> CollectAnswer(const ResponseFormat& format,
                                                     const Streams& streams,
                                                     const std::atomic<bool>& give_up,
                                                     std::chrono::milliseconds poll);

// The streamed answer. Choices are sent one after another (choice i+1's events wait, merged in
// its stream, until choice i ends), so a client sees each choice's text in order.
class SseWriter {
 public:
  // Writes bytes to the client; false when the client is gone.
  using Write = std::function<bool(absl::string_view)>;

  SseWriter(ResponseFormat format, bool include_usage, Streams streams)
      : format_(std::move(format)), include_usage_(include_usage), streams_(std::move(streams)) {}
  ~SseWriter() { CancelAll(); }

  // Writes what the current stream has, waiting up to `wait` for something. With nothing new
  // after `wait`, writes an SSE comment (": keep-alive"), which clients ignore: it keeps
  // proxies from timing out and, because writing to a closed socket fails, notices a client
  // that left while its request waited in the queue. After the last choice: the usage chunk
  // when asked for, then "data: [DONE]". Returns false when a write failed.
  bool Pump(const Write& write, std::chrono::milliseconds wait);
  bool done() const { return done_; }

  // Cancels every stream that has not finished, so the engine drops the requests. Idempotent.
  void CancelAll();

 private:
  ResponseFormat format_;
  bool include_usage_;
  Streams streams_;
  size_t current_ = 0;   // the choice being streamed
  bool opened_ = false;  // the current choice's opening (role) chunk was sent
  bool done_ = false;
  Usage usage_;
};

}  // namespace sy::openai

#endif  // SWITCHYARD_CORE_SERVING_OPENAI_STREAM_H_
