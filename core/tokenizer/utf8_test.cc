#include "core/tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "core/tokenizer/unicode_class.h"

namespace sy {
namespace {

TEST(Utf8Test, DecodesAndEncodesAllLengths) {
  const std::string text = "a\u00e9\u4f60\U0001F600";
  absl::StatusOr<std::vector<char32_t>> cps = DecodeUtf8(text);
  ASSERT_TRUE(cps.ok()) << cps.status();
  EXPECT_EQ(*cps, (std::vector<char32_t>{'a', 0xE9, 0x4F60, 0x1F600}));
  std::string back;
  for (char32_t c : *cps) AppendUtf8(c, back);
  EXPECT_EQ(back, text);
}

TEST(Utf8Test, InvalidInputNamesTheByteOffset) {
  const std::pair<std::string, int> cases[] = {
      {"ab\xFF", 2},            // never valid
      {"a\xC0\xAF", 1},         // overlong '/'
      {"xy\xED\xA0\x80", 2},    // surrogate
      {"\xF4\x90\x80\x80", 0},  // past U+10FFFF
      {"abc\xE4\xBD", 3},       // truncated
      {"\x80", 0},              // lone continuation
  };
  for (const auto& [text, offset] : cases) {
    absl::Status status = ValidateUtf8(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), "invalid UTF-8 at byte offset " + std::to_string(offset));
    EXPECT_FALSE(DecodeUtf8(text).ok());
  }
}

TEST(Utf8Test, LossyConversionReplacesMaximalSubparts) {
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a\uFFFD"
            "b");
  EXPECT_EQ(ToValidUtf8("\xE4\xBD"
                        "x"),
            "\uFFFD"
            "x");  // one U+FFFD for the subpart
  EXPECT_EQ(ToValidUtf8("\xF0\x9F\x98"), "\uFFFD");
  EXPECT_EQ(ToValidUtf8("ok\u00e9"), "ok\u00e9");
}

TEST(Utf8Test, IncompleteSuffixIsHeldBack) {
  const std::string smile = "\U0001F600";
  EXPECT_EQ(IncompleteUtf8Suffix("ab"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab" + smile.substr(0, 1)), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab" + smile.substr(0, 3)), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab" + smile), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xFF"), 0u);  // invalid: nothing to wait for
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE4\xBD"), 2u);
}

TEST(TokenizerUnicodeClassTest, ClassifiesLettersNumbersAndSpaces) {
  for (char32_t c : {U'a', U'Z', U'\u00e9', U'\u4f60', U'\u0416', U'\u05d0', U'\u3042'}) {
    EXPECT_TRUE(IsLetter(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'0', U'9', U'\u0663', U'\u00bd', U'\u2167'}) {
    EXPECT_TRUE(IsNumber(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U' ', U'\t', U'\n', U'\u3000', U'\u00a0', U'\u2009'}) {
    EXPECT_TRUE(IsWhitespace(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'!', U'\'', U'\U0001F600', U'\u3002', U'_'}) {
    EXPECT_FALSE(IsLetter(c) || IsNumber(c) || IsWhitespace(c)) << static_cast<uint32_t>(c);
  }
}

}  // namespace
}  // namespace sy
