// Engine results → OpenAI response JSON: text_completion and chat.completion objects, their
// streaming chunks (server-sent events ending in "data: [DONE]") and the /v1/models list.
//
// Streams follow OpenAI's shape: a chat stream opens each choice with a chunk whose delta is
// {"role": "assistant", "content": ""}, then {"content": …} deltas, then a chunk with an empty
// delta and the finish_reason; completions stream {"text": …} chunks and a final one with the
// finish_reason. With stream_options.include_usage, one more chunk with "choices": [] and the
// usage comes before [DONE].
#ifndef SWITCHYARD_CORE_SERVING_OPENAI_RESPONSE_H_
#define SWITCHYARD_CORE_SERVING_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "core/serving/openai_protocol.h"

namespace sy::openai {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct ChoiceOutcome {
  std::string text;
  std::string finish_reason;  // "stop", "length" or "abort"
};

// The fields every object of one response shares: its id, creation time and model.
class ResponseFormat {
 public:
  ResponseFormat(Endpoint endpoint, std::string id, int64_t created, std::string model)
      : endpoint_(endpoint), id_(std::move(id)), created_(created), model_(std::move(model)) {}

  Endpoint endpoint() const { return endpoint_; }

  // A new id: "cmpl-" or "chatcmpl-" and 24 random hex digits.
  static std::string NewId(Endpoint endpoint);

  // The whole, non-streamed answer.
  nlohmann::ordered_json Complete(const std::vector<ChoiceOutcome>& choices,
                                  const Usage& usage) const;

  // Streaming chunks.
  nlohmann::ordered_json RoleChunk(int index) const;  // chat only: opens a choice
  nlohmann::ordered_json TextChunk(int index, const std::string& text) const;
  nlohmann::ordered_json FinishChunk(int index, const std::string& finish_reason) const;
  nlohmann::ordered_json UsageChunk(const Usage& usage) const;

 private:
  nlohmann::ordered_json Chunk(nlohmann::ordered_json choice) const;

  Endpoint endpoint_;
  std::string id_;
  int64_t created_;
  std::string model_;
};

// One server-sent event: "data: <json>\n\n".
std::string SseEvent(const nlohmann::ordered_json& data);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

// JSON text; invalid UTF-8 (never produced by the tokenizer's decoder, but cheap to guard)
// becomes U+FFFD instead of an exception.
std::string DumpJson(const nlohmann::ordered_json& value);

// GET /v1/models: the served model in OpenAI's list format, plus vLLM's max_model_len.
nlohmann::ordered_json ModelList(const std::string& id, int64_t created, int64_t context_length);

}  // namespace sy::openai

#endif  // SWITCHYARD_CORE_SERVING_OPENAI_RESPONSE_H_
