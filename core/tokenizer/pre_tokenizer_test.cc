#include "core/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "core/tokenizer/utf8.h"

namespace sy {
namespace {

std::vector<std::string> Split(SplitPattern pattern, const std::string& text) {
  const std::vector<char32_t> cps = *DecodeUtf8(text);
  std::vector<std::string> pieces;
  size_t begin = 0;
  for (size_t end : SplitByPattern(pattern, cps)) {
    std::string& piece = pieces.emplace_back();
    for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], piece);
    begin = end;
  }
  return pieces;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizerTest, Gpt2Pattern) {
  EXPECT_EQ(Split(SplitPattern::kGpt2, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "don't DON'T"), (Pieces{"don", "'t", " DON", "'", "T"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "I'm  fine\n\nok"),
            (Pieces{"I", "'m", " ", " fine", "\n", "\n", "ok"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "abc 12345 x"), (Pieces{"abc", " 12345", " x"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "hi \U0001F600\U0001F600! "),
            (Pieces{"hi", " \U0001F600\U0001F600!", " "}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "\u4f60\u597d \u4e16\u754c"),
            (Pieces{"\u4f60\u597d", " \u4e16\u754c"}));
}

TEST(PreTokenizerTest, Qwen2Pattern) {
  EXPECT_EQ(Split(SplitPattern::kQwen2, "abc 12345 x"),
            (Pieces{"abc", " ", "1", "2", "3", "4", "5", " x"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "Hello, world!\n\n  foo"),
            (Pieces{"Hello", ",", " world", "!\n\n", " ", " foo"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "DON'T"), (Pieces{"DON", "'T"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "x\n\n\nfoo"), (Pieces{"x", "\n\n\n", "foo"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "(hello)"), (Pieces{"(hello", ")"}));
}

TEST(PreTokenizerTest, Llama3PatternGroupsThreeDigits) {
  EXPECT_EQ(Split(SplitPattern::kLlama3, "12345"), (Pieces{"123", "45"}));
}

TEST(PreTokenizerTest, RecognizesTheFamiliesRegexes) {
  EXPECT_EQ(*PatternFromRegex(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            SplitPattern::kGpt2);
  EXPECT_EQ(
      *PatternFromRegex(
          R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
      SplitPattern::kQwen2);
  EXPECT_FALSE(PatternFromRegex(R"(\w+)").ok());
}

}  // namespace
}  // namespace sy
