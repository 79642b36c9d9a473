#include "core/serving/openai_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/serving/openai_error.h"

namespace sy::openai {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A model whose "tokenizer" maps each byte to its value: lengths are easy to reason about.
ServedModel FakeModel() {
  return ServedModel{
      .id = "tiny",
      .context_length = 64,
      .vocab_size = 256,
      .encode_text =
          [](absl::string_view text) { return std::vector<int32_t>(text.begin(), text.end()); },
      .encode_chat =
          [](const std::vector<ChatMessage>& messages) -> absl::StatusOr<std::vector<int32_t>> {
        std::string rendered;
        for (const ChatMessage& m : messages) rendered += m.role[0] + m.content + "|";
        return std::vector<int32_t>(rendered.begin(), rendered.end());
      },
  };
}

absl::StatusOr<ParsedRequest> Completion(const std::string& body) {
  return ParseCompletionRequest(body, FakeModel(), /*fallback_seed=*/77);
}
absl::StatusOr<ParsedRequest> Chat(const std::string& body) {
  return ParseChatRequest(body, FakeModel(), /*fallback_seed=*/77);
}

// The request fails with HTTP `status`, naming `param`, with `message_part` in the message.
void ExpectError(const absl::StatusOr<ParsedRequest>& result, int status, const std::string& param,
                 const std::string& message_part) {
  ASSERT_FALSE(result.ok());
  const ApiError error = ToApiError(result.status());
  EXPECT_EQ(error.http_status, status) << error.message;
  EXPECT_EQ(error.param, param) << error.message;
  EXPECT_THAT(error.message, HasSubstr(message_part));
}

TEST(CompletionRequestTest, ParsesAStringPromptWithSampling) {
  auto r = Completion(R"({"model": "tiny", "prompt": "abc", "max_tokens": 5, "temperature": 0.5,
      "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "seed": 3,
      "stop": ["x", "yz"], "ignore_eos": true, "user": "ignored", "n": 1, "echo": false,
      "logprobs": null, "best_of": 1, "presence_penalty": 0, "logit_bias": {}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->endpoint, Endpoint::kCompletions);
  EXPECT_FALSE(r->stream);
  ASSERT_EQ(r->generations.size(), 1u);
  const GenerationRequest& g = r->generations[0];
  EXPECT_THAT(g.prompt, ElementsAre('a', 'b', 'c'));
  EXPECT_EQ(g.sampling.max_tokens, 5);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(g.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(g.sampling.seed, 3u);
  EXPECT_THAT(g.sampling.stop, ElementsAre("x", "yz"));
  EXPECT_TRUE(g.ignore_eos);
  EXPECT_TRUE(g.sampling.Validate().ok());
}

TEST(CompletionRequestTest, DefaultsFollowOpenAi) {
  auto r = Completion(R"({"prompt": "abc"})");  // no model: the served one
  ASSERT_TRUE(r.ok()) << r.status();
  const SamplingParams& s = r->generations[0].sampling;
  EXPECT_EQ(s.max_tokens, kDefaultCompletionMaxTokens);
  EXPECT_FLOAT_EQ(s.temperature, 1.0f);
  EXPECT_EQ(s.seed, 77u);  // the fallback: a fresh seed per request
  EXPECT_FALSE(r->generations[0].ignore_eos);
  // The default shrinks to what the context leaves (64 - 60).
  auto near_full = Completion(absl::StrCat(R"({"prompt": ")", std::string(60, 'a'), R"("})"));
  ASSERT_TRUE(near_full.ok());
  EXPECT_EQ(near_full->generations[0].sampling.max_tokens, 4);
  // vLLM's -1 for "no top-k limit".
  EXPECT_EQ(Completion(R"({"prompt": "a", "top_k": -1})")->generations[0].sampling.top_k, 0);
  // null means absent.
  EXPECT_TRUE(Completion(R"({"prompt": "a", "max_tokens": null, "stop": null})").ok());
}

TEST(CompletionRequestTest, EveryPromptShapeGivesOneChoicePerPrompt) {
  auto strings = Completion(R"({"prompt": ["ab", "c"]})");
  ASSERT_TRUE(strings.ok()) << strings.status();
  ASSERT_EQ(strings->generations.size(), 2u);
  EXPECT_THAT(strings->generations[1].prompt, ElementsAre('c'));
  EXPECT_EQ(strings->generations[0].sampling.seed, 77u);  // no seed: one per choice
  EXPECT_EQ(strings->generations[1].sampling.seed, 78u);
  auto seeded = Completion(R"({"prompt": ["ab", "ab"], "seed": 5})");
  EXPECT_EQ(seeded->generations[1].sampling.seed, 5u);  // a seed repeats in every choice

  auto ids = Completion(R"({"prompt": [1, 2, 255]})");
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->generations.size(), 1u);
  EXPECT_THAT(ids->generations[0].prompt, ElementsAre(1, 2, 255));

  auto id_lists = Completion(R"({"prompt": [[1, 2], [3], "d"]})");
  ASSERT_TRUE(id_lists.ok()) << id_lists.status();
  ASSERT_EQ(id_lists->generations.size(), 3u);
  EXPECT_THAT(id_lists->generations[1].prompt, ElementsAre(3));
  EXPECT_THAT(id_lists->generations[2].prompt, ElementsAre('d'));
}

TEST(CompletionRequestTest, BadPromptsNameTheField) {
  ExpectError(Completion(R"({"max_tokens": 3})"), 400, "prompt", "'prompt' is required");
  ExpectError(Completion(R"({"prompt": 5})"), 400, "prompt", "must be a string, an array");
  ExpectError(Completion(R"({"prompt": []})"), 400, "prompt", "empty array");
  ExpectError(Completion(R"({"prompt": ""})"), 400, "prompt", "has no tokens");
  ExpectError(Completion(R"({"prompt": [1, 256]})"), 400, "prompt[1]",
              "token id 256 at 'prompt[1]' is outside the vocabulary [0, 256)");
  ExpectError(Completion(R"({"prompt": [1, -1]})"), 400, "prompt[1]", "outside the vocabulary");
  ExpectError(Completion(R"({"prompt": [1, "a"]})"), 400, "prompt[1]",
              "must be a token id (integer), got string");
  ExpectError(Completion(R"({"prompt": ["a", 3]})"), 400, "prompt[1]",
              "must be a string or an array of token ids");
  ExpectError(Completion(R"({"prompt": [[1], [1.5]]})"), 400, "prompt[1][0]", "got number");
}

TEST(CompletionRequestTest, MaxTokensMustBePositiveAndFitTheContext) {
  ExpectError(Completion(R"({"prompt": "a", "max_tokens": 0})"), 400, "max_tokens",
              "'max_tokens' must be at least 1, got 0");
  ExpectError(Completion(R"({"prompt": "a", "max_tokens": -5})"), 400, "max_tokens",
              "at least 1, got -5");
  ExpectError(Completion(R"({"prompt": "a", "max_tokens": 2.5})"), 400, "max_tokens",
              "'max_tokens' must be an integer, got number");
  ExpectError(Completion(R"({"prompt": "a", "max_tokens": "9"})"), 400, "max_tokens", "got string");
  const auto huge = Completion(R"({"prompt": "abcd", "max_tokens": 99999999999999999999})");
  ExpectError(huge, 400, "max_tokens", "maximum context length is 64 tokens");
  EXPECT_EQ(ToApiError(huge.status()).code, "context_length_exceeded");
  ExpectError(Completion(R"({"prompt": "abcd", "max_tokens": 61})"), 400, "max_tokens",
              "you requested 4 + 61 tokens (4 in the prompt, 61 in the completion)");
  EXPECT_TRUE(Completion(R"({"prompt": "abcd", "max_tokens": 60})").ok());
  const auto too_long = Completion(absl::StrCat(R"({"prompt": ")", std::string(64, 'a'), "\"}"));
  ExpectError(too_long, 400, "prompt", "but the prompt has 64 tokens");
  EXPECT_EQ(ToApiError(too_long.status()).code, "context_length_exceeded");
}

TEST(CompletionRequestTest, SamplingFieldsAreRangeAndTypeChecked) {
  ExpectError(Completion(R"({"prompt": "a", "temperature": -0.1})"), 400, "temperature",
              "'temperature' must be >= 0, got -0.1");
  ExpectError(Completion(R"({"prompt": "a", "temperature": "hot"})"), 400, "temperature",
              "must be a number, got string");
  ExpectError(Completion(R"({"prompt": "a", "top_p": 0})"), 400, "top_p", "in (0, 1]");
  ExpectError(Completion(R"({"prompt": "a", "top_p": 1.5})"), 400, "top_p", "got 1.5");
  ExpectError(Completion(R"({"prompt": "a", "min_p": 2})"), 400, "min_p", "in [0, 1]");
  ExpectError(Completion(R"({"prompt": "a", "top_k": -2})"), 400, "top_k", "got -2");
  ExpectError(Completion(R"({"prompt": "a", "repetition_penalty": 0})"), 400, "repetition_penalty",
              "> 0");
  ExpectError(Completion(R"({"prompt": "a", "seed": "x"})"), 400, "seed", "an integer");
  ExpectError(Completion(R"({"prompt": "a", "stream": "yes"})"), 400, "stream", "a boolean");
  ExpectError(Completion(R"({"prompt": "a", "ignore_eos": 1})"), 400, "ignore_eos", "a boolean");
}

TEST(CompletionRequestTest, StopStrings) {
  EXPECT_THAT(Completion(R"({"prompt": "a", "stop": "\n"})")->generations[0].sampling.stop,
              ElementsAre("\n"));
  ExpectError(Completion(R"({"prompt": "a", "stop": ""})"), 400, "stop", "must not be empty");
  ExpectError(Completion(R"({"prompt": "a", "stop": ["a", ""]})"), 400, "stop[1]",
              "must not be empty");
  ExpectError(Completion(R"({"prompt": "a", "stop": [1]})"), 400, "stop[0]", "a string");
  ExpectError(Completion(R"({"prompt": "a", "stop": 3})"), 400, "stop", "a string or an array");
  nlohmann::json many = {{"prompt", "a"}, {"stop", std::vector<std::string>(17, "s")}};
  ExpectError(Completion(many.dump()), 400, "stop", "at most 16 strings, got 17");
}

TEST(CompletionRequestTest, StreamOptions) {
  auto r = Completion(R"({"prompt": "a", "stream": true,
                          "stream_options": {"include_usage": true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  ExpectError(Completion(R"({"prompt": "a", "stream_options": {"include_usage": true}})"), 400,
              "stream_options", "only allowed when 'stream' is true");
  ExpectError(Completion(R"({"prompt": "a", "stream": true, "stream_options": 1})"), 400,
              "stream_options", "an object");
}

TEST(CompletionRequestTest, UnsupportedParametersAreNamed) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
           {"n", "2"},
           {"best_of", "3"},
           {"logprobs", "1"},
           {"logprobs", "0"},
           {"echo", "true"},
           {"presence_penalty", "0.5"},
           {"frequency_penalty", "-1"},
           {"logit_bias", R"({"50256": -100})"},
           {"suffix", R"("end")"},
           {"min_tokens", "4"},
       }) {
    SCOPED_TRACE(field + " = " + value);
    ExpectError(Completion(absl::StrCat(R"({"prompt": "a", ")", field, "\": ", value, "}")), 400,
                field, absl::StrCat("'", field, "' is not supported"));
  }
}

TEST(CompletionRequestTest, BadBodiesAndUnknownModels) {
  ExpectError(Completion("{\"prompt\": "), 400, "", "not valid JSON");
  ExpectError(Completion("{\"prompt\": \"\xff\"}"), 400, "", "not valid JSON (UTF-8)");
  ExpectError(Completion("[1, 2]"), 400, "", "must be a JSON object, got array");
  ExpectError(Completion(""), 400, "", "not valid JSON");
  const auto unknown = Completion(R"({"model": "gpt-4", "prompt": "a"})");
  ExpectError(unknown, 404, "model", "The model `gpt-4` does not exist.");
  EXPECT_EQ(ToApiError(unknown.status()).code, "model_not_found");
  ExpectError(Completion(R"({"model": 4, "prompt": "a"})"), 400, "model", "a string");
}

TEST(ChatRequestTest, RendersTheMessages) {
  auto r = Chat(R"({"model": "tiny", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "x"}]},
      {"role": "assistant", "content": null},
      {"role": "user", "content": "ok", "name": "bob"}],
      "max_completion_tokens": 7, "max_tokens": 9, "stream": true, "tools": [],
      "response_format": {"type": "text"}, "logprobs": false, "tool_choice": "none"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->endpoint, Endpoint::kChat);
  EXPECT_TRUE(r->stream);
  ASSERT_EQ(r->generations.size(), 1u);
  const std::vector<int32_t>& p = r->generations[0].prompt;
  EXPECT_EQ(std::string(p.begin(), p.end()), "sbe brief|uhi\nx|a|uok|");
  EXPECT_EQ(r->generations[0].sampling.max_tokens, 7);  // max_completion_tokens wins
}

TEST(ChatRequestTest, DefaultMaxTokensIsTheRestOfTheContext) {
  auto r = Chat(R"({"messages": [{"role": "user", "content": "hello"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->generations[0].sampling.max_tokens, 64 - 7);  // "uhello|" is 7 tokens
}

TEST(ChatRequestTest, BadMessagesNameTheField) {
  ExpectError(Chat(R"({"model": "tiny"})"), 400, "messages", "'messages' is required");
  ExpectError(Chat(R"({"messages": []})"), 400, "messages", "must not be empty");
  ExpectError(Chat(R"({"messages": "hi"})"), 400, "messages", "an array");
  ExpectError(Chat(R"({"messages": [{"role": "tool", "content": "x"}]})"), 400, "messages[0].role",
              "\"tool\" is not supported");
  ExpectError(Chat(R"({"messages": [{"content": "x"}]})"), 400, "messages[0].role",
              "must be a string, got null");
  ExpectError(Chat(R"({"messages": [{"role": "user"}]})"), 400, "messages[0].content",
              "is required");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": 3}]})"), 400, "messages[0].content",
              "a string or an array of content parts");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"), 400,
              "messages[0].content[0]", "\"image_url\" is not supported");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})"), 400,
              "max_tokens", "at least 1");
  ExpectError(
      Chat(R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 1000})"),
      400, "max_completion_tokens", "maximum context length is 64 tokens");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": "x"}], "n": 3})"), 400, "n",
              "'n' is not supported");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": "x"}],
                       "tools": [{"type": "function"}]})"),
              400, "tools", "not supported");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": "x"}],
                       "response_format": {"type": "json_object"}})"),
              400, "response_format", "only {\"type\": \"text\"}");
  ExpectError(Chat(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})"), 400,
              "logprobs", "not supported");
}

TEST(ChatRequestTest, TemplateErrorsAreBadRequests) {
  ServedModel model = FakeModel();
  model.encode_chat = [](const std::vector<ChatMessage>&) -> absl::StatusOr<std::vector<int32_t>> {
    return absl::InvalidArgumentError("messages[1]: roles must alternate user/assistant");
  };
  auto r = ParseChatRequest(R"({"messages": [{"role": "user", "content": "x"}]})", model, 0);
  ExpectError(r, 400, "messages", "roles must alternate");
}

}  // namespace
}  // namespace sy::openai
