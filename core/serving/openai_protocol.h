// OpenAI requests → engine requests: parses and validates the JSON bodies of
// POST /v1/completions and POST /v1/chat/completions into GenerationRequests, one per choice.
// Pure functions over the body and what the server knows about its model, so every rule below
// is unit-tested without a server. Every error is InvalidParam (400) naming the field, or
// ModelNotFound (404) — see openai_error.h.
//
// Decisions where OpenAI and vLLM differ or are silent (docs/serving.md lists them for users):
//  - Unknown fields are ignored, as vLLM does: SDKs and frameworks send fields such as `user`,
//    `metadata` or `store` that change nothing here. Known fields this server cannot honour
//    (logprobs, echo, best_of > 1, n > 1, presence/frequency_penalty != 0, logit_bias, suffix,
//    tools, response_format other than text, …) are a 400 naming the field whenever they ask
//    for something other than the default, never silently dropped.
//  - `model` may be omitted (vLLM accepts that); when given it must be the served model's id.
//  - max_tokens absent: 16 for completions (OpenAI's and vLLM's default); for chat, what is left
//    of the context after the prompt, capped at kDefaultChatMaxTokens so that a long-context
//    model does not default to a generation of hundreds of thousands of tokens.
//  - `stop`: a string or up to kMaxStopStrings non-empty strings (OpenAI allows 4).
//  - Prompts: a string, an array of strings (one choice each), an array of token ids, or an
//    array of token-id arrays (one choice each); ids must be inside the vocabulary.
//  - Chat roles: system, developer (OpenAI's newer name for system), user, assistant; content
//    a string or an array of {"type": "text", "text"} parts, joined with "\n".
//  - Without `seed`, each request draws a fresh one (`fallback_seed`, + i for the i-th prompt),
//    as OpenAI samples differently on every call; with `seed`, results repeat.
#ifndef SWITCHYARD_CORE_SERVING_OPENAI_PROTOCOL_H_
#define SWITCHYARD_CORE_SERVING_OPENAI_PROTOCOL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/serving/engine.h"
#include "core/tokenizer/chat_template.h"

namespace sy::openai {

inline constexpr int32_t kDefaultCompletionMaxTokens = 16;
inline constexpr int32_t kDefaultChatMaxTokens = 4096;
inline constexpr size_t kMaxStopStrings = 16;

enum class Endpoint { kCompletions, kChat };

// What request parsing needs to know about the served model. The encoders are functions so
// that tests can parse without loading a network.
struct ServedModel {
  std::string id;  // the model clients name: LanguageModel::name
  int64_t context_length = 0;
  int32_t vocab_size = 0;
  std::function<absl::StatusOr<std::vector<int32_t>>(absl::string_view)> encode_text;
  std::function<absl::StatusOr<std::vector<int32_t>>(const std::vector<ChatMessage>&)> encode_chat;
};

// `model`'s id, vocabulary and encoders, with the engine's context length.
ServedModel DescribeModel(const LanguageModel& model, int64_t context_length);

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::vector<GenerationRequest> generations;  // one per choice, in choice order
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a final chunk with usage
};

absl::StatusOr<ParsedRequest> ParseCompletionRequest(absl::string_view body,
                                                     const ServedModel& model,
                                                     uint64_t fallback_seed);
absl::StatusOr<ParsedRequest> ParseChatRequest(absl::string_view body, const ServedModel& model,
                                               uint64_t fallback_seed);

}  // namespace sy::openai

#endif  // SWITCHYARD_CORE_SERVING_OPENAI_PROTOCOL_H_
