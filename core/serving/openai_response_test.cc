#include "core/serving/openai_response.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/serving/openai_error.h"

namespace sy::openai {
namespace {

using json = nlohmann::ordered_json;
using ::testing::MatchesRegex;

TEST(ResponseFormatTest, CompletionObject) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 1700000000, "tiny");
  const json body = format.Complete({{"hello", "length"}, {"", "stop"}}, {3, 5});
  EXPECT_EQ(body, json::parse(R"({"id": "cmpl-1", "object": "text_completion",
      "created": 1700000000, "model": "tiny",
      "choices": [{"text": "hello", "index": 0, "logprobs": null, "finish_reason": "length"},
                  {"text": "", "index": 1, "logprobs": null, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}})"));
}

TEST(ResponseFormatTest, ChatObject) {
  const ResponseFormat format(Endpoint::kChat, "chatcmpl-1", 5, "tiny");
  const json body = format.Complete({{"hi", "stop"}}, {2, 1});
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"],
            json::parse(R"({"role": "assistant", "content": "hi"})"));
  EXPECT_FALSE(body["choices"][0].contains("text"));
  EXPECT_EQ(body["usage"]["total_tokens"], 3);
}

TEST(ResponseFormatTest, ChatChunks) {
  const ResponseFormat format(Endpoint::kChat, "chatcmpl-1", 5, "tiny");
  const json role = format.RoleChunk(0);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], json::parse(R"({"role": "assistant", "content": ""})"));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(format.TextChunk(0, "ab")["choices"][0]["delta"], json::parse(R"({"content": "ab"})"));
  const json finish = format.FinishChunk(0, "length");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  const json usage = format.UsageChunk({4, 2});
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 6);
}

TEST(ResponseFormatTest, CompletionChunks) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 5, "tiny");
  const json text = format.TextChunk(1, "xy");
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["index"], 1);
  EXPECT_EQ(text["choices"][0]["text"], "xy");
  EXPECT_EQ(format.FinishChunk(1, "stop")["choices"][0]["finish_reason"], "stop");
}

TEST(ResponseFormatTest, IdsAndEvents) {
  EXPECT_THAT(ResponseFormat::NewId(Endpoint::kCompletions), MatchesRegex("cmpl-[0-9a-f]{24}"));
  EXPECT_THAT(ResponseFormat::NewId(Endpoint::kChat), MatchesRegex("chatcmpl-[0-9a-f]{24}"));
  EXPECT_NE(ResponseFormat::NewId(Endpoint::kChat), ResponseFormat::NewId(Endpoint::kChat));
  EXPECT_EQ(SseEvent(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(DumpJson(json("\xff")), "\"\xEF\xBF\xBD\"");  // U+FFFD, no exception
}

TEST(ResponseFormatTest, ModelList) {
  const json list = ModelList("tiny", 9, 1024);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "tiny");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(list["data"][0]["max_model_len"], 1024);
}

TEST(ApiErrorTest, StatusCodesMapToHttp) {
  EXPECT_EQ(ToApiError(absl::InvalidArgumentError("x")).http_status, 400);
  const ApiError full = ToApiError(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(full.http_status, 429);
  EXPECT_EQ(full.type, "rate_limit_error");
  EXPECT_EQ(ToApiError(absl::UnavailableError("draining")).http_status, 503);
  EXPECT_EQ(ToApiError(absl::InternalError("bug")).http_status, 500);
  EXPECT_EQ(ToApiError(absl::InternalError("bug")).type, "server_error");
}

TEST(ApiErrorTest, BodyIsOpenAiShaped) {
  EXPECT_EQ(json::parse(ToApiError(InvalidParam("top_p", "bad")).Body()),
            json::parse(R"({"error": {"message": "bad", "type": "invalid_request_error",
                            "param": "top_p", "code": null}})"));
  EXPECT_EQ(json::parse(ToApiError(ModelNotFound("m")).Body())["error"]["code"], "model_not_found");
  EXPECT_EQ(json::parse(HttpError(404, "Invalid URL (GET /x)").Body())["error"]["param"], nullptr);
}

}  // namespace
}  // namespace sy::openai
