#include "core/serving/openai_response.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sy::openai {
namespace {

using json = nlohmann::ordered_json;

json UsageJson(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

}  // namespace

std::string ResponseFormat::NewId(Endpoint endpoint) {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrCat(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-",
                      absl::StrFormat("%016x%08x", random(), random() & 0xffffffffu));
}

json ResponseFormat::Complete(const std::vector<ChoiceOutcome>& choices, const Usage& usage) const {
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    if (endpoint_ == Endpoint::kChat) {
      list.push_back({{"index", i},
                      {"message", {{"role", "assistant"}, {"content", choices[i].text}}},
                      {"logprobs", nullptr},
                      {"finish_reason", choices[i].finish_reason}});
    } else {
      list.push_back({{"text", choices[i].text},
                      {"index", i},
                      {"logprobs", nullptr},
                      {"finish_reason", choices[i].finish_reason}});
    }
  }
  return {{"id", id_},
          {"object", endpoint_ == Endpoint::kChat ? "chat.completion" : "text_completion"},
          {"created", created_},
          {"model", model_},
          {"choices", std::move(list)},
          {"usage", UsageJson(usage)}};
}

json ResponseFormat::Chunk(json choice) const {
  json choices = json::array();
  if (!choice.is_null()) choices.push_back(std::move(choice));
  return {{"id", id_},
          {"object", endpoint_ == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", created_},
          {"model", model_},
          {"choices", std::move(choices)}};
}

json ResponseFormat::RoleChunk(int index) const {
  return Chunk({{"index", index},
                {"delta", {{"role", "assistant"}, {"content", ""}}},
                {"logprobs", nullptr},
                {"finish_reason", nullptr}});
}

json ResponseFormat::TextChunk(int index, const std::string& text) const {
  if (endpoint_ == Endpoint::kChat) {
    return Chunk({{"index", index},
                  {"delta", {{"content", text}}},
                  {"logprobs", nullptr},
                  {"finish_reason", nullptr}});
  }
  return Chunk(
      {{"text", text}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
}

json ResponseFormat::FinishChunk(int index, const std::string& finish_reason) const {
  if (endpoint_ == Endpoint::kChat) {
    return Chunk({{"index", index},
                  {"delta", json::object()},
                  {"logprobs", nullptr},
                  {"finish_reason", finish_reason}});
  }
  return Chunk(
      {{"text", ""}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", finish_reason}});
}

json ResponseFormat::UsageChunk(const Usage& usage) const {
  json chunk = Chunk(nullptr);
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SseEvent(const json& data) { return absl::StrCat("data: ", DumpJson(data), "\n\n"); }

json ModelList(const std::string& id, int64_t created, int64_t context_length) {
  return {{"object", "list"},
          {"data", json::array({{{"id", id},
                                 {"object", "model"},
                                 {"created", created},
                                 {"owned_by", "switchyard"},
                                 {"max_model_len", context_length}}})}};
}

}  // namespace sy::openai
