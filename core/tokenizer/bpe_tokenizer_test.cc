#include "core/tokenizer/bpe_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch_dir.h"

#include <cstdio>
#include <fstream>

#include "nlohmann/json.hpp"

namespace sy {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;
using ::testing::HasSubstr;

constexpr char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode, written independently of the implementation: the character that
// stands for byte `b` in a byte-level vocabulary.
std::string ByteChar(int b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  int c = b;
  if (!printable) c = 256 + (b <= 0x20 ? b : b <= 0xA0 ? 33 + (b - 0x7F) : 67);
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

// A toy byte-level vocabulary: byte b has id b, merges get ids from 256 on.
Json ByteLevelModel() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"Ġ", "w"},  {"o", "r"}, {"Ġw", "or"}, {"l", "d"},    {"Ġwor", "ld"},
      {"H", "e"},  {"l", "l"}, {"He", "ll"}, {"Hell", "o"}, {"d", "o"},
      {"do", "n"}, {"'", "t"}, {"1", "2"},   {"ð", "Ł"},    {"ĺ", "Ģ"}};
  Json merge_list = Json::array();
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    vocab[a + b] = 256 + static_cast<int>(i);
    // Both formats: "a b" strings and ["a", "b"] pairs.
    merge_list.push_back(i % 2 == 0 ? Json(a + " " + b) : Json::array({a, b}));
  }
  return {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}, {"unk_token", nullptr}};
}

Json AddedToken(int id, const std::string& content, bool special) {
  return {{"id", id}, {"content", content}, {"special", special}, {"normalized", false}};
}

// OLMoE / GPT-NeoX style: ByteLevel with the GPT-2 regex.
Json OlmoeStyle() {
  return {
      {"model", ByteLevelModel()},
      {"added_tokens",
       {AddedToken(300, "<|endoftext|>", true), AddedToken(301, "<|user|>", false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"post_processor", {{"type", "ByteLevel"}}}};
}

// Qwen2 style: Split with the Qwen2 regex, then ByteLevel without its own regex.
Json QwenStyle() {
  Json split = {{"type", "Split"},
                {"pattern", {{"Regex", kQwen2Regex}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return {{"model", ByteLevelModel()},
          {"added_tokens",
           {AddedToken(300, "<|im_start|>", true), AddedToken(301, "<|im_end|>", true),
            AddedToken(302, "<|im", false)}},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}}},
          {"decoder", {{"type", "ByteLevel"}}}};
}

// Mixtral style: SentencePiece BPE with byte fallback. <unk>, <s>, </s>, then <0x00>..<0xFF>.
Json MixtralModel() {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int next = 259;
  for (const char* ch : {"▁", "H", "e", "l", "o", "w", "r", "d"}) vocab[ch] = next++;
  Json merges = Json::array();
  for (const char* m : {"l l", "e ll", "▁ H", "▁H ell", "▁Hell o", "▁ w", "o r"}) {
    const std::string s = m;
    const size_t space = s.find(' ');
    vocab[s.substr(0, space) + s.substr(space + 1)] = next++;
    merges.push_back(s);
  }
  return {{"type", "BPE"},        {"vocab", vocab},        {"merges", merges},
          {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}};
}

Json MixtralTemplate() {
  return {{"type", "TemplateProcessing"},
          {"single",
           {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
            {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}};
}

Json MixtralAdded() {
  return {AddedToken(0, "<unk>", true), AddedToken(1, "<s>", true), AddedToken(2, "</s>", true)};
}

// The legacy form: Prepend + Replace normalizer, no pre-tokenizer, a Strip decoder.
Json MixtralLegacy() {
  Json normalizer = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", "▁"}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}};
  Json decoder = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  return {{"model", MixtralModel()},  {"added_tokens", MixtralAdded()},
          {"normalizer", normalizer}, {"pre_tokenizer", nullptr},
          {"decoder", decoder},       {"post_processor", MixtralTemplate()}};
}

// The newer form: a Metaspace pre-tokenizer, and a Metaspace decoder after ByteFallback.
Json MixtralMetaspace() {
  Json metaspace = {
      {"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", false}};
  return {
      {"model", MixtralModel()},
      {"added_tokens", MixtralAdded()},
      {"normalizer", nullptr},
      {"pre_tokenizer", metaspace},
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, metaspace}}}},
      {"post_processor", MixtralTemplate()}};
}

BpeTokenizer Load(const Json& json) {
  absl::StatusOr<BpeTokenizer> tok = BpeTokenizer::FromJson(json.dump(), "tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

Ids Encode(const BpeTokenizer& tok, const std::string& text, bool add_special = false) {
  absl::StatusOr<Ids> ids = tok.Encode(text, add_special);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : Ids{};
}

int Byte(char c) { return static_cast<unsigned char>(c); }

TEST(TokenizerTest, ByteLevelGpt2ExactIds) {
  const BpeTokenizer tok = Load(OlmoeStyle());
  EXPECT_EQ(tok.vocab_size(), 302);
  EXPECT_EQ(Encode(tok, "Hello world"), (Ids{264, 260}));
  EXPECT_EQ(Encode(tok, "Hello, world!"), (Ids{264, Byte(','), 260, Byte('!')}));
  EXPECT_EQ(Encode(tok, "don't"), (Ids{266, 267}));
  EXPECT_EQ(Encode(tok, "123 12"), (Ids{268, Byte('3'), Byte(' '), 268}));
  EXPECT_EQ(Encode(tok, "\U0001F600"), (Ids{269, 270}));  // F0 9F | 98 80
  EXPECT_EQ(Encode(tok, "\u00e9"), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(Encode(tok, ""), Ids{});
}

TEST(TokenizerTest, AddedTokensAreMatchedBeforeSplitting) {
  const BpeTokenizer tok = Load(OlmoeStyle());
  EXPECT_EQ(Encode(tok, "<|endoftext|>Hello<|user|>\n"), (Ids{300, 264, 301, Byte('\n')}));
  EXPECT_EQ(Encode(tok, "x<|endoftext"),
            (Ids{Byte('x'), Byte('<'), Byte('|'), Byte('e'), Byte('n'), 265, Byte('f'), Byte('t'),
                 Byte('e'), Byte('x'), Byte('t')}));
  EXPECT_EQ(tok.TokenToId("<|endoftext|>"), 300);
  EXPECT_TRUE(tok.IsSpecial(300));
  EXPECT_FALSE(tok.IsSpecial(301));
  const Ids ids = {300, 264, 301};
  EXPECT_EQ(tok.Decode(ids), "Hello<|user|>");
  EXPECT_EQ(tok.Decode(ids, /*skip_special_tokens=*/false), "<|endoftext|>Hello<|user|>");
}

TEST(TokenizerTest, QwenSplitThenByteLevel) {
  const BpeTokenizer tok = Load(QwenStyle());
  // Qwen2 splits digits one by one, so "12" is never merged.
  EXPECT_EQ(Encode(tok, "12 world"), (Ids{Byte('1'), Byte('2'), 260}));
  EXPECT_EQ(Encode(tok, "DON'T"), (Ids{Byte('D'), Byte('O'), Byte('N'), Byte('\''), Byte('T')}));
  // The longest added token wins: "<|im_start|>" over "<|im".
  EXPECT_EQ(Encode(tok, "<|im_start|>Hello<|im"), (Ids{300, 264, 302}));
}

TEST(TokenizerTest, RoundTripsText) {
  const std::vector<std::string> texts = {
      "Hello world",
      "  leading and trailing  ",
      "tabs\tand\nnewlines\r\n\n",
      "don't stop",
      "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
      "\U0001F600\U0001F680 emoji \u2764\ufe0f",
      "mixed 123 \u0430\u0431\u0432 \u05e9\u05dc\u05d5\u05dd",
      "<|im_start|>user\nhi<|im_end|>",
      "a\u0301 combining",
      "",
  };
  for (const Json& json : {OlmoeStyle(), QwenStyle()}) {
    const BpeTokenizer tok = Load(json);
    for (const std::string& text : texts) {
      EXPECT_EQ(tok.Decode(Encode(tok, text), /*skip_special_tokens=*/false), text);
    }
  }
}

TEST(TokenizerTest, IncrementalDecoderWaitsForCompleteCharacters) {
  const BpeTokenizer tok = Load(OlmoeStyle());
  BpeTokenizer::IncrementalDecoder decoder(tok);
  EXPECT_EQ(decoder.Push(264), "Hello");
  EXPECT_EQ(decoder.Push(Byte(' ')), " ");
  EXPECT_EQ(decoder.Push(269), "");  // the first half of a 4-byte emoji
  EXPECT_EQ(decoder.Push(270), "\U0001F600");
  EXPECT_EQ(decoder.Push(300), "");  // special, skipped
  EXPECT_EQ(decoder.Push(0xE4), "");
  EXPECT_EQ(decoder.Flush(), "\uFFFD");  // an unfinished character at the end
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(TokenizerTest, MixtralByteFallbackBothForms) {
  for (const Json& json : {MixtralLegacy(), MixtralMetaspace()}) {
    const BpeTokenizer tok = Load(json);
    const int32_t hello = *tok.TokenToId("▁Hello"), w = *tok.TokenToId("▁w");
    const int32_t o_r = *tok.TokenToId("or"), l = *tok.TokenToId("l"), d = *tok.TokenToId("d");
    const Ids expected = {hello, w, o_r, l, d, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80};
    const Ids ids = Encode(tok, "Hello world\U0001F600");
    EXPECT_EQ(ids, expected);
    Ids with_bos = {1};
    with_bos.insert(with_bos.end(), expected.begin(), expected.end());
    EXPECT_EQ(Encode(tok, "Hello world\U0001F600", /*add_special=*/true), with_bos);
    EXPECT_EQ(tok.Decode(ids), "Hello world\U0001F600");
    EXPECT_EQ(tok.Decode(with_bos), "Hello world\U0001F600");
    const int32_t padding[] = {tok.vocab_size(), tok.vocab_size() + 100, -1};
    EXPECT_EQ(tok.Decode(padding), "\uFFFD\uFFFD\uFFFD");
    BpeTokenizer::IncrementalDecoder decoder(tok);
    std::string streamed;
    for (int32_t id : with_bos) streamed += decoder.Push(id);
    EXPECT_EQ(streamed + decoder.Flush(), "Hello world\U0001F600");
  }
}

TEST(TokenizerTest, MixtralUnknownCharactersFuseIntoOneUnk) {
  Json json = MixtralLegacy();
  json["model"]["byte_fallback"] = false;
  const BpeTokenizer tok = Load(json);
  EXPECT_EQ(Encode(tok, "H\u4f60\u597d"), (Ids{*tok.TokenToId("▁H"), 0}));
}

TEST(TokenizerTest, UnsupportedModelTypeIsAnError) {
  Json json = OlmoeStyle();
  json["model"]["type"] = "Unigram";
  absl::StatusOr<BpeTokenizer> tok = BpeTokenizer::FromJson(json.dump(), "tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().message(),
            "tokenizer.json: model.type 'Unigram' is not supported (BPE only)");
}

TEST(TokenizerTest, FileErrorsNameTheFileAndField) {
  const std::string path = sy::testing_support::ScratchDir() + "/unigram_tokenizer.json";
  Json json = QwenStyle();
  json["model"]["type"] = "WordPiece";
  std::ofstream(path) << json.dump();
  absl::StatusOr<BpeTokenizer> tok = BpeTokenizer::FromFile(path);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().message(), path + ": model.type 'WordPiece' is not supported (BPE only)");
  EXPECT_THAT(BpeTokenizer::FromFile(path + ".missing").status().message(),
              HasSubstr("cannot open"));
}

TEST(TokenizerTest, MalformedSectionsNameTheirField) {
  auto error = [](const Json& json) {
    return std::string(BpeTokenizer::FromJson(json.dump(), "t.json").status().message());
  };
  Json bad_merge = OlmoeStyle();
  bad_merge["model"]["merges"][1] = "o zz";
  EXPECT_EQ(error(bad_merge), "t.json: model.merges[1] 'zz' is not in the vocabulary");
  Json bad_pre = QwenStyle();
  bad_pre["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  EXPECT_THAT(error(bad_pre), HasSubstr("t.json: pre_tokenizer.pretokenizers[0].pattern "));
  Json bad_type = QwenStyle();
  bad_type["pre_tokenizer"]["pretokenizers"][1]["type"] = "Whitespace";
  EXPECT_EQ(error(bad_type),
            "t.json: pre_tokenizer.pretokenizers[1].type 'Whitespace' is not supported");
  Json bad_norm = QwenStyle();
  bad_norm["normalizer"]["type"] = "NFKC";
  EXPECT_EQ(error(bad_norm), "t.json: normalizer.type 'NFKC' is not supported");
  Json bad_vocab = OlmoeStyle();
  bad_vocab["model"]["vocab"]["Ġw"] = "x";
  EXPECT_EQ(error(bad_vocab), "t.json: model.vocab['Ġw'] is not a non-negative 32-bit id");
  EXPECT_EQ(std::string(BpeTokenizer::FromJson("{not json", "t.json").status().message()),
            "t.json: not a JSON object");
  Json no_model = OlmoeStyle();
  no_model.erase("model");
  EXPECT_EQ(error(no_model), "t.json: model is missing");
}

TEST(TokenizerTest, InvalidUtf8PromptIsAnError) {
  const BpeTokenizer tok = Load(QwenStyle());
  absl::StatusOr<Ids> ids = tok.Encode("Hello \xC3(world");
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "text to encode: invalid UTF-8 at byte offset 6");
}

}  // namespace
}  // namespace sy
