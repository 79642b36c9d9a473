#include "core/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <vector>

namespace sy {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};

std::string Render(ChatFamily family, const std::vector<ChatMessage>& messages, bool prompt) {
  absl::StatusOr<std::string> text = RenderChat(family, messages, prompt);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

TEST(ChatTemplateTest, Qwen2ChatMl) {
  EXPECT_EQ(Render(ChatFamily::kQwen2, kConversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(Render(ChatFamily::kQwen2, {{"user", "Hi"}}, false),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateTest, Qwen3DropsEarlierThinking) {
  const std::vector<ChatMessage> messages = {
      {"user", "Hi"}, {"assistant", "<think>\nsay hi\n</think>\n\nHello!"}, {"user", "Bye"}};
  EXPECT_EQ(Render(ChatFamily::kQwen3, messages, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, MistralInstruct) {
  EXPECT_EQ(Render(ChatFamily::kMistral, kConversation, true),
            "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]");
  EXPECT_EQ(Render(ChatFamily::kMistral, {{"user", "Hi"}}, true), "<s>[INST] Hi [/INST]");
  absl::StatusOr<std::string> bad =
      RenderChat(ChatFamily::kMistral, {{{"user", "a"}, {"user", "b"}}}, true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "messages[1].role: 'user' where assistant is expected");
}

TEST(ChatTemplateTest, OlmoeTulu) {
  EXPECT_EQ(Render(ChatFamily::kOlmoe, kConversation, true),
            "<|endoftext|><|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello!"
            "<|endoftext|>\n<|user|>\n2+2?\n<|assistant|>\n");
}

TEST(ChatTemplateTest, RejectsUnknownRolesAndModelTypes) {
  absl::StatusOr<std::string> bad = RenderChat(ChatFamily::kQwen3, {{{"tool", "x"}}}, true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "messages[0].role: 'tool' where system, user or assistant is expected");
  EXPECT_EQ(*ChatFamilyForModelType("qwen3_moe"), ChatFamily::kQwen3);
  EXPECT_EQ(*ChatFamilyForModelType("mixtral"), ChatFamily::kMistral);
  EXPECT_FALSE(ChatFamilyForModelType("bert").ok());
}

}  // namespace
}  // namespace sy
