#include "core/serving/openai_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace sy::openai {
namespace {

using json = nlohmann::ordered_json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::chrono::milliseconds kWait(50);

std::shared_ptr<RequestStream> FinishedStream(uint64_t id, const std::string& text,
                                              const std::string& reason,
                                              absl::Status error = absl::OkStatus()) {
  auto stream = std::make_shared<RequestStream>(id);
  stream->Push(text, 2);
  stream->Finish(reason, std::move(error), /*prompt_tokens=*/3, /*completion_tokens=*/2);
  return stream;
}

// Pumps until the writer is done; returns the events' data payloads.
std::vector<std::string> Drain(SseWriter& writer) {
  std::string bytes;
  for (int i = 0; i < 100 && !writer.done(); ++i) {
    EXPECT_TRUE(writer.Pump(
        [&bytes](absl::string_view s) {
          bytes.append(s.data(), s.size());
          return true;
        },
        kWait));
  }
  EXPECT_TRUE(writer.done());
  std::vector<std::string> data;
  for (size_t start = 0, end; (end = bytes.find("\n\n", start)) != std::string::npos;
       start = end + 2) {
    const std::string event = bytes.substr(start, end - start);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    data.push_back(event.substr(6));
  }
  return data;
}

TEST(CollectAnswerTest, JoinsEveryChoiceAndSumsUsage) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 1, "tiny");
  std::atomic<bool> give_up{false};
  auto answer = CollectAnswer(
      format, {FinishedStream(1, "ab", "length"), FinishedStream(2, "c", "stop")}, give_up, kWait);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ((*answer)["choices"][0]["text"], "ab");
  EXPECT_EQ((*answer)["choices"][1]["finish_reason"], "stop");
  EXPECT_EQ((*answer)["usage"]["prompt_tokens"], 6);
  EXPECT_EQ((*answer)["usage"]["completion_tokens"], 4);
}

TEST(CollectAnswerTest, EngineErrorsAndAbortsFailTheRequest) {
  const ResponseFormat format(Endpoint::kChat, "chatcmpl-1", 1, "tiny");
  std::atomic<bool> give_up{false};
  auto failed = CollectAnswer(
      format, {FinishedStream(1, "", "abort", absl::InternalError("kernel died"))}, give_up, kWait);
  EXPECT_EQ(failed.status(), absl::InternalError("kernel died"));
  auto aborted = CollectAnswer(format, {FinishedStream(1, "x", "abort")}, give_up, kWait);
  EXPECT_EQ(aborted.status().code(), absl::StatusCode::kUnavailable);
}

TEST(CollectAnswerTest, GivingUpCancelsTheStreams) {
  const ResponseFormat format(Endpoint::kChat, "chatcmpl-1", 1, "tiny");
  auto pending = std::make_shared<RequestStream>(1);
  std::atomic<bool> give_up{true};
  auto answer = CollectAnswer(format, {pending}, give_up, kWait);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(pending->cancelled());
}

TEST(SseWriterTest, ChatStreamOpensWithTheRoleAndEndsWithUsageAndDone) {
  const ResponseFormat format(Endpoint::kChat, "chatcmpl-1", 1, "tiny");
  SseWriter writer(format, /*include_usage=*/true, {FinishedStream(1, "hi", "length")});
  const std::vector<std::string> data = Drain(writer);
  ASSERT_EQ(data.size(), 5u);
  EXPECT_EQ(json::parse(data[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(json::parse(data[1])["choices"][0]["delta"]["content"], "hi");
  EXPECT_EQ(json::parse(data[2])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(json::parse(data[3])["usage"]["total_tokens"], 5);
  EXPECT_EQ(data[4], "[DONE]");
}

TEST(SseWriterTest, CompletionChoicesStreamInOrder) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 1, "tiny");
  SseWriter writer(format, /*include_usage=*/false,
                   {FinishedStream(1, "a", "stop"), FinishedStream(2, "b", "length")});
  std::vector<std::string> indexed;
  for (const std::string& d : Drain(writer)) {
    if (d == "[DONE]") {
      indexed.push_back(d);
      continue;
    }
    const json choice = json::parse(d)["choices"][0];
    indexed.push_back(
        std::to_string(choice["index"].get<int>()) + ":" + choice["text"].get<std::string>() + ":" +
        (choice["finish_reason"].is_null() ? "" : choice["finish_reason"].get<std::string>()));
  }
  EXPECT_THAT(indexed, ElementsAre("0:a:", "0::stop", "1:b:", "1::length", "[DONE]"));
}

TEST(SseWriterTest, FailedRequestsSendAnErrorEvent) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 1, "tiny");
  SseWriter writer(format, /*include_usage=*/false,
                   {FinishedStream(1, "", "abort", absl::InternalError("kernel died"))});
  const std::vector<std::string> data = Drain(writer);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(json::parse(data[0])["error"]["message"], "kernel died");
  EXPECT_EQ(data[1], "[DONE]");
}

TEST(SseWriterTest, IdleStreamsGetKeepAlivesAndAGoneClientCancels) {
  const ResponseFormat format(Endpoint::kCompletions, "cmpl-1", 1, "tiny");
  auto pending = std::make_shared<RequestStream>(1);
  SseWriter writer(format, /*include_usage=*/false, {pending});
  std::string bytes;
  EXPECT_TRUE(writer.Pump(
      [&bytes](absl::string_view s) {
        bytes.append(s.data(), s.size());
        return true;
      },
      kWait));
  EXPECT_EQ(bytes, ": keep-alive\n\n");
  EXPECT_FALSE(writer.Pump([](absl::string_view) { return false; }, kWait));
  EXPECT_FALSE(pending->cancelled());  // the HTTP layer decides when the response ends
  writer.CancelAll();
  EXPECT_TRUE(pending->cancelled());
}

}  // namespace
}  // namespace sy::openai
