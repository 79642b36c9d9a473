// Switchyard's tokenizer against Hugging Face `tokenizers` on a tokenizer.json that HF's own
// trainer wrote: the built-in model's (models/pydoc-moe, Qwen2 format: NFC, the Qwen2 split
// regex, ByteLevel, ChatML special tokens). scripts/builtin_model/train.py encoded held-out
// documentation, chat markup, non-ASCII text and odd whitespace with `tokenizers` and saved the
// ids in testdata/pydoc_moe_tokenizer_ids.json.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/tokenizer/bpe_tokenizer.h"

namespace sy {
namespace {

TEST(HfTokenizerFixtureTest, IdsAndTextMatchHuggingFaceTokenizers) {
  auto tokenizer = BpeTokenizer::FromFile(SY_TEST_SOURCE_DIR "/models/pydoc-moe/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::ifstream in(SY_TEST_SOURCE_DIR "/core/tokenizer/testdata/pydoc_moe_tokenizer_ids.json");
  ASSERT_TRUE(in.good());
  const auto cases = nlohmann::json::parse(in);
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    auto ids = tokenizer->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, expected) << text;
    EXPECT_EQ(tokenizer->Decode(*ids, /*skip_special_tokens=*/false), text);
  }
}

}  // namespace
}  // namespace sy
