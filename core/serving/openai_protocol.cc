#include "core/serving/openai_protocol.h"

#include <cmath>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "core/serving/openai_error.h"

namespace sy::openai {
namespace {

using nlohmann::json;

const char* TypeName(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  return value.type_name();  // "string", "object", "array", "boolean", "null"
}

absl::Status TypeError(const std::string& param, const char* expected, const json& got) {
  return InvalidParam(param,
                      absl::StrCat("'", param, "' must be ", expected, ", got ", TypeName(got)));
}

// An integer field's value. Integers must be written as integers (2.5 is refused, as OpenAI
// does), but values beyond int64 — which the JSON parser can only hold as floating point — are
// clamped, so that a huge number reaches the range checks as huge rather than as a type error.
absl::StatusOr<int64_t> IntegerValue(const json& v, const std::string& param) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(kMax) ? kMax : static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) >= 0x1p63) {
      return d > 0 ? kMax : std::numeric_limits<int64_t>::min();
    }
  }
  return TypeError(param, "an integer", v);
}

// Typed access to the top-level fields of a request object. JSON null counts as absent, as
// OpenAI's SDKs send null for parameters left unset.
class Fields {
 public:
  explicit Fields(const json& object) : object_(object) {}

  const json* Find(const char* name) const {
    auto it = object_.find(name);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  absl::StatusOr<std::optional<double>> Number(const char* name) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) return TypeError(name, "a number", *v);
    return v->get<double>();
  }

  absl::StatusOr<std::optional<int64_t>> Integer(const char* name) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    return IntegerValue(*v, name);
  }

  absl::StatusOr<std::optional<bool>> Bool(const char* name) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return TypeError(name, "a boolean", *v);
    return v->get<bool>();
  }

 private:
  const json& object_;
};

absl::StatusOr<json> ParseBody(absl::string_view body) {
  json parsed;
  try {
    parsed = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return InvalidParam("", absl::StrCat("The request body is not valid JSON (UTF-8): ", what));
  }
  if (!parsed.is_object()) {
    return InvalidParam(
        "", absl::StrCat("The request body must be a JSON object, got ", TypeName(parsed)));
  }
  return parsed;
}

absl::Status CheckModel(const Fields& fields, const ServedModel& model) {
  const json* v = fields.Find("model");
  if (!v) return absl::OkStatus();  // vLLM serves its one model when none is named
  if (!v->is_string()) return TypeError("model", "a string", *v);
  if (v->get<std::string>() != model.id) return ModelNotFound(v->get<std::string>());
  return absl::OkStatus();
}

// A field this server does not implement: fine when absent or at its default value
// (`is_default`), otherwise a 400 naming it.
absl::Status Unsupported(const Fields& fields, const char* name,
                         const std::function<bool(const json&)>& is_default,
                         absl::string_view why) {
  const json* v = fields.Find(name);
  if (!v || is_default(*v)) return absl::OkStatus();
  return InvalidParam(name, absl::StrCat("'", name, "' is not supported by this server", why));
}

bool IsFalse(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsOne(const json& v) { return v.is_number() && v.get<double>() == 1; }
bool IsZero(const json& v) { return v.is_number() && v.get<double>() == 0; }
bool IsEmptyContainer(const json& v) { return (v.is_object() || v.is_array()) && v.empty(); }
bool IsEmptyString(const json& v) { return v.is_string() && v.get<std::string>().empty(); }
bool IsTextFormat(const json& v) { return v.is_object() && v.value("type", json()) == "text"; }
// Without tools, "auto" and "none" both mean plain text.
bool IsNoTools(const json& v) { return v == "none" || v == "auto"; }

absl::Status CheckUnsupported(const Fields& fields, Endpoint endpoint) {
  const auto k1 = " (only n = 1; send the request several times instead)";
  SY_RETURN_IF_ERROR(Unsupported(fields, "n", IsOne, k1));
  // Chat's logprobs is a boolean; completions' an integer, where even 0 asks for some.
  SY_RETURN_IF_ERROR(Unsupported(fields, "logprobs", IsFalse, ""));
  SY_RETURN_IF_ERROR(Unsupported(fields, "top_logprobs", IsZero, ""));
  SY_RETURN_IF_ERROR(
      Unsupported(fields, "presence_penalty", IsZero, " (use repetition_penalty instead)"));
  SY_RETURN_IF_ERROR(
      Unsupported(fields, "frequency_penalty", IsZero, " (use repetition_penalty instead)"));
  SY_RETURN_IF_ERROR(Unsupported(fields, "logit_bias", IsEmptyContainer, ""));
  SY_RETURN_IF_ERROR(Unsupported(fields, "min_tokens", IsZero, ""));
  SY_RETURN_IF_ERROR(Unsupported(fields, "stop_token_ids", IsEmptyContainer, ""));
  if (endpoint == Endpoint::kCompletions) {
    SY_RETURN_IF_ERROR(Unsupported(fields, "echo", IsFalse, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "best_of", IsOne, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "suffix", IsEmptyString, ""));
  } else {
    SY_RETURN_IF_ERROR(Unsupported(fields, "tools", IsEmptyContainer, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "functions", IsEmptyContainer, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "tool_choice", IsNoTools, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "function_call", IsNoTools, ""));
    SY_RETURN_IF_ERROR(
        Unsupported(fields, "response_format", IsTextFormat, " (only {\"type\": \"text\"})"));
    SY_RETURN_IF_ERROR(Unsupported(fields, "audio", IsEmptyContainer, ""));
    SY_RETURN_IF_ERROR(Unsupported(fields, "prediction", IsEmptyContainer, ""));
  }
  return absl::OkStatus();
}

// A float sampling field in its range; `valid` says whether a value is allowed.
absl::Status ReadFloat(const Fields& fields, const char* name, const char* range,
                       bool (*valid)(double), float& out) {
  SY_ASSIGN_OR_RETURN(std::optional<double> v, fields.Number(name));
  if (!v) return absl::OkStatus();
  if (!std::isfinite(*v) || !valid(*v)) {
    return InvalidParam(name, absl::StrCat("'", name, "' must be ", range, ", got ", *v));
  }
  out = static_cast<float>(*v);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadStop(const Fields& fields) {
  const json* v = fields.Find("stop");
  if (!v) return std::vector<std::string>();
  if (v->is_string()) {
    if (v->get<std::string>().empty()) return InvalidParam("stop", "'stop' must not be empty");
    return std::vector<std::string>{v->get<std::string>()};
  }
  if (!v->is_array()) return TypeError("stop", "a string or an array of strings", *v);
  if (v->size() > kMaxStopStrings) {
    return InvalidParam("stop", absl::StrCat("'stop' may hold at most ", kMaxStopStrings,
                                             " strings, got ", v->size()));
  }
  std::vector<std::string> stops;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = absl::StrCat("stop[", i, "]");
    if (!(*v)[i].is_string()) return TypeError(param, "a string", (*v)[i]);
    if ((*v)[i].get<std::string>().empty()) {
      return InvalidParam(param, absl::StrCat("'", param, "' must not be empty"));
    }
    stops.push_back((*v)[i].get<std::string>());
  }
  return stops;
}

// The sampling fields every endpoint shares, with max_tokens left for later: its default and
// limit depend on the prompt's length.
absl::StatusOr<GenerationRequest> ReadSampling(const Fields& fields, uint64_t fallback_seed) {
  GenerationRequest request;
  SamplingParams& p = request.sampling;
  SY_RETURN_IF_ERROR(ReadFloat(
      fields, "temperature", ">= 0", [](double x) { return x >= 0; }, p.temperature));
  SY_RETURN_IF_ERROR(ReadFloat(
      fields, "top_p", "in (0, 1]", [](double x) { return x > 0 && x <= 1; }, p.top_p));
  SY_RETURN_IF_ERROR(ReadFloat(
      fields, "min_p", "in [0, 1]", [](double x) { return x >= 0 && x <= 1; }, p.min_p));
  SY_RETURN_IF_ERROR(ReadFloat(
      fields, "repetition_penalty", "> 0", [](double x) { return x > 0; }, p.repetition_penalty));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, fields.Integer("top_k"));
  if (top_k) {
    // vLLM spells "no limit" -1; the sampler spells it 0.
    if (*top_k < -1 || *top_k > std::numeric_limits<int32_t>::max()) {
      return InvalidParam("top_k",
                          absl::StrCat("'top_k' must be >= 0 (0 or -1: no limit), got ", *top_k));
    }
    p.top_k = *top_k == -1 ? 0 : static_cast<int32_t>(*top_k);
  }
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> seed, fields.Integer("seed"));
  p.seed = seed ? static_cast<uint64_t>(*seed) : fallback_seed;
  SY_ASSIGN_OR_RETURN(p.stop, ReadStop(fields));
  SY_ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, fields.Bool("ignore_eos"));
  request.ignore_eos = ignore_eos.value_or(false);
  return request;
}

struct StreamFlags {
  bool stream = false;
  bool include_usage = false;
};

absl::StatusOr<StreamFlags> ReadStream(const Fields& fields) {
  StreamFlags flags;
  SY_ASSIGN_OR_RETURN(std::optional<bool> stream, fields.Bool("stream"));
  flags.stream = stream.value_or(false);
  const json* options = fields.Find("stream_options");
  if (!options) return flags;
  if (!flags.stream) {
    return InvalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true");
  }
  if (!options->is_object()) return TypeError("stream_options", "an object", *options);
  SY_ASSIGN_OR_RETURN(std::optional<bool> usage, Fields(*options).Bool("include_usage"));
  flags.include_usage = usage.value_or(false);
  return flags;
}

// The completion length of a prompt of `prompt_tokens`: the requested max_tokens if it fits
// the context, else an error; absent, `default_tokens` cut to what the context leaves.
absl::StatusOr<int32_t> ResolveMaxTokens(std::optional<int64_t> requested, const char* param,
                                         const char* prompt_param, int64_t prompt_tokens,
                                         int64_t default_tokens, int64_t context) {
  if (prompt_tokens >= context) {
    return InvalidParam(prompt_param,
                        absl::StrCat("This model's maximum context length is ", context,
                                     " tokens, but the prompt has ", prompt_tokens,
                                     " tokens, which leaves no room for the completion. Please "
                                     "shorten the prompt."),
                        "context_length_exceeded");
  }
  const int64_t room = context - prompt_tokens;
  if (!requested) return static_cast<int32_t>(std::min(default_tokens, room));
  if (*requested < 1) {
    return InvalidParam(param, absl::StrCat("'", param, "' must be at least 1, got ", *requested));
  }
  if (*requested > room) {
    return InvalidParam(
        param,
        absl::StrCat("This model's maximum context length is ", context,
                     " tokens. However, you requested ", prompt_tokens, " + ", *requested,
                     " tokens (", prompt_tokens, " in the prompt, ", *requested,
                     " in the completion). Please reduce the prompt or '", param, "'."),
        "context_length_exceeded");
  }
  return static_cast<int32_t>(*requested);
}

absl::StatusOr<std::vector<int32_t>> TokenIds(const json& array, const std::string& param,
                                              const ServedModel& model) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& id = array[i];
    const std::string where = absl::StrCat(param, "[", i, "]");
    if (!id.is_number()) return TypeError(where, "a token id (integer)", id);
    SY_ASSIGN_OR_RETURN(const int64_t value, IntegerValue(id, where));
    if (value < 0 || value >= model.vocab_size) {
      return InvalidParam(where,
                          absl::StrCat("token id ", value, " at '", where,
                                       "' is outside the vocabulary [0, ", model.vocab_size, ")"));
    }
    ids.push_back(static_cast<int32_t>(value));
  }
  return ids;
}

absl::StatusOr<std::vector<int32_t>> EncodePromptText(const std::string& text,
                                                      const std::string& param,
                                                      const ServedModel& model) {
  absl::StatusOr<std::vector<int32_t>> ids = model.encode_text(text);
  if (!ids.ok()) return InvalidParam(param, ids.status().message());
  return ids;
}

// The prompts of a completions request, tokenized, one per choice.
absl::StatusOr<std::vector<std::vector<int32_t>>> ReadPrompts(const Fields& fields,
                                                              const ServedModel& model) {
  const json* v = fields.Find("prompt");
  if (!v) return InvalidParam("prompt", "'prompt' is required");
  if (v->is_string()) {
    SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                        EncodePromptText(v->get<std::string>(), "prompt", model));
    return std::vector<std::vector<int32_t>>{std::move(ids)};
  }
  const char* kShapes =
      "a string, an array of strings, an array of token ids or an array of token-id arrays";
  if (!v->is_array()) return TypeError("prompt", kShapes, *v);
  if (v->empty()) return InvalidParam("prompt", "'prompt' must not be an empty array");
  std::vector<std::vector<int32_t>> prompts;
  if ((*v)[0].is_number()) {  // one prompt of token ids
    SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenIds(*v, "prompt", model));
    prompts.push_back(std::move(ids));
    return prompts;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    const std::string param = absl::StrCat("prompt[", i, "]");
    if (item.is_string()) {
      SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                          EncodePromptText(item.get<std::string>(), param, model));
      prompts.push_back(std::move(ids));
    } else if (item.is_array()) {
      SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenIds(item, param, model));
      prompts.push_back(std::move(ids));
    } else {
      return TypeError(param, "a string or an array of token ids", item);
    }
  }
  return prompts;
}

absl::StatusOr<std::string> ReadContent(const json& message, const std::string& param,
                                        const std::string& role) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) {
    // An assistant turn that only called tools has no content; others must say something.
    if (role == "assistant") return std::string();
    return InvalidParam(param, absl::StrCat("'", param, "' is required"));
  }
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return TypeError(param, "a string or an array of content parts", *it);
  std::vector<std::string> texts;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& part = (*it)[i];
    const std::string where = absl::StrCat(param, "[", i, "]");
    if (!part.is_object()) return TypeError(where, "a content part object", part);
    const json type = part.value("type", json());
    if (type != "text") {
      return InvalidParam(
          where, absl::StrCat("'", where, ".type' ", type.is_string() ? type.dump() : "(missing)",
                              " is not supported: only \"text\" parts"));
    }
    const json text = part.value("text", json());
    if (!text.is_string()) return TypeError(where + ".text", "a string", text);
    texts.push_back(text.get<std::string>());
  }
  return absl::StrJoin(texts, "\n");
}

absl::StatusOr<std::vector<ChatMessage>> ReadMessages(const Fields& fields) {
  const json* v = fields.Find("messages");
  if (!v) return InvalidParam("messages", "'messages' is required");
  if (!v->is_array()) return TypeError("messages", "an array", *v);
  if (v->empty()) return InvalidParam("messages", "'messages' must not be empty");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string param = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return TypeError(param, "an object", m);
    const json role = m.value("role", json());
    if (!role.is_string()) return TypeError(param + ".role", "a string", role);
    std::string name = role.get<std::string>();
    if (name == "developer") name = "system";
    if (name != "system" && name != "user" && name != "assistant") {
      return InvalidParam(param + ".role",
                          absl::StrCat("'", param, ".role' ", role.dump(),
                                       " is not supported: system, developer, user or assistant"));
    }
    SY_ASSIGN_OR_RETURN(std::string content, ReadContent(m, param + ".content", name));
    messages.push_back({std::move(name), std::move(content)});
  }
  return messages;
}

}  // namespace

ServedModel DescribeModel(const LanguageModel& model, int64_t context_length) {
  return ServedModel{
      .id = model.name,
      .context_length = context_length,
      .vocab_size = model.tokenizer.vocab_size(),
      .encode_text = [&model](absl::string_view text) { return model.EncodeText(text); },
      .encode_chat = [&model](const std::vector<ChatMessage>& m) { return model.EncodeChat(m); },
  };
}

absl::StatusOr<ParsedRequest> ParseCompletionRequest(absl::string_view body,
                                                     const ServedModel& model,
                                                     uint64_t fallback_seed) {
  SY_ASSIGN_OR_RETURN(json parsed, ParseBody(body));
  const Fields fields(parsed);
  SY_RETURN_IF_ERROR(CheckModel(fields, model));
  SY_RETURN_IF_ERROR(CheckUnsupported(fields, Endpoint::kCompletions));
  SY_ASSIGN_OR_RETURN(GenerationRequest base, ReadSampling(fields, fallback_seed));
  SY_ASSIGN_OR_RETURN(StreamFlags flags, ReadStream(fields));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, fields.Integer("max_tokens"));
  SY_ASSIGN_OR_RETURN(std::vector<std::vector<int32_t>> prompts, ReadPrompts(fields, model));

  ParsedRequest request{.endpoint = Endpoint::kCompletions,
                        .generations = {},
                        .stream = flags.stream,
                        .include_usage = flags.include_usage};
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string param = prompts.size() == 1 ? "prompt" : absl::StrCat("prompt[", i, "]");
    if (prompts[i].empty()) {
      return InvalidParam(param, absl::StrCat("'", param, "' has no tokens"));
    }
    GenerationRequest generation = base;
    // Without a seed, choices of the same prompt should still differ, as they do at OpenAI.
    if (!fields.Find("seed")) generation.sampling.seed = fallback_seed + i;
    SY_ASSIGN_OR_RETURN(generation.sampling.max_tokens,
                        ResolveMaxTokens(max_tokens, "max_tokens", param.c_str(),
                                         static_cast<int64_t>(prompts[i].size()),
                                         kDefaultCompletionMaxTokens, model.context_length));
    generation.prompt = std::move(prompts[i]);
    request.generations.push_back(std::move(generation));
  }
  return request;
}

absl::StatusOr<ParsedRequest> ParseChatRequest(absl::string_view body, const ServedModel& model,
                                               uint64_t fallback_seed) {
  SY_ASSIGN_OR_RETURN(json parsed, ParseBody(body));
  const Fields fields(parsed);
  SY_RETURN_IF_ERROR(CheckModel(fields, model));
  SY_RETURN_IF_ERROR(CheckUnsupported(fields, Endpoint::kChat));
  SY_ASSIGN_OR_RETURN(GenerationRequest generation, ReadSampling(fields, fallback_seed));
  SY_ASSIGN_OR_RETURN(StreamFlags flags, ReadStream(fields));
  // max_completion_tokens is OpenAI's current name; max_tokens the deprecated one.
  const char* max_param =
      fields.Find("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, fields.Integer(max_param));
  SY_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ReadMessages(fields));

  absl::StatusOr<std::vector<int32_t>> prompt = model.encode_chat(messages);
  if (!prompt.ok()) return InvalidParam("messages", prompt.status().message());
  SY_ASSIGN_OR_RETURN(
      generation.sampling.max_tokens,
      ResolveMaxTokens(max_tokens, max_param, "messages", static_cast<int64_t>(prompt->size()),
                       kDefaultChatMaxTokens, model.context_length));
  generation.prompt = *std::move(prompt);
  ParsedRequest request{.endpoint = Endpoint::kChat,
                        .generations = {},
                        .stream = flags.stream,
                        .include_usage = flags.include_usage};
  request.generations.push_back(std::move(generation));
  return request;
}

}  // namespace sy::openai
