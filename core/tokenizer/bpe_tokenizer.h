// A BPE tokenizer loaded from a Hugging Face tokenizer.json, covering the supported families:
//  - byte-level BPE (GPT-2 bytes_to_unicode alphabet): Qwen2/Qwen3 (Split with the Qwen2
//    regex, then ByteLevel) and OLMoE / GPT-NeoX (ByteLevel with the GPT-2 regex);
//  - SentencePiece-style BPE with byte fallback: Mixtral/Mistral/Llama-2, either the legacy
//    normalizer form (Prepend "▁" + Replace " " → "▁") or the Metaspace pre-tokenizer.
// Added tokens are matched in the raw text first (longest match wins), the rest is normalized,
// pre-tokenized and merged by rank. Limits: the NFC normalizer is accepted but applied as the
// identity (exact for text already in NFC, which is nearly all input); added tokens' lstrip,
// rstrip, single_word and normalized flags are ignored; other model, normalizer,
// pre-tokenizer, decoder and post-processor types are rejected with an error naming the field.
#ifndef SWITCHYARD_CORE_TOKENIZER_BPE_TOKENIZER_H_
#define SWITCHYARD_CORE_TOKENIZER_BPE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "nlohmann/json_fwd.hpp"

namespace sy {

class BpeTokenizer {
 public:
  static absl::StatusOr<BpeTokenizer> FromFile(const std::string& path);
  // `source_name` (usually the file's path) prefixes every error.
  static absl::StatusOr<BpeTokenizer> FromJson(absl::string_view json,
                                               absl::string_view source_name);

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  // The ids of `text`, which must be valid UTF-8. `add_special_tokens` adds what the
  // post-processor's template adds around a single sequence (e.g. BOS for Mixtral).
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                              bool add_special_tokens = false) const;

  // The text of `ids` as valid UTF-8 (ill-formed byte sequences become U+FFFD). An id outside
  // the vocabulary (a model's padding rows) decodes to U+FFFD too.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;

  // Size of the id space: one more than the largest id of the vocabulary or added tokens.
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  std::optional<int32_t> TokenToId(absl::string_view token) const;
  bool IsSpecial(int32_t id) const;

  // Streams the text of generated ids, emitting only complete UTF-8 characters so that a
  // character split across tokens is printed once, when its last byte arrives.
  class IncrementalDecoder {
   public:
    explicit IncrementalDecoder(const BpeTokenizer& tokenizer, bool skip_special_tokens = true)
        : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}
    std::string Push(int32_t id);  // the text that became complete with `id`
    std::string Flush();           // what is held back; an unfinished character as U+FFFD

   private:
    const BpeTokenizer* tokenizer_;
    bool skip_special_;
    bool at_start_ = true;
    std::string pending_;
  };

 private:
  struct AddedToken {
    std::string content;
    int32_t id;
    bool special;
  };
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  struct WordCache;

  static uint64_t MergeKey(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
  }

  BpeTokenizer();

  // Parsing, one tokenizer.json section each (bpe_tokenizer_json.cc). `field` is the JSON
  // path of `step` that errors name; Sequence types recurse into their members.
  absl::Status ParseModel(const nlohmann::json& root, absl::string_view source);
  absl::Status ParseVocab(const nlohmann::json& model, absl::string_view source);
  absl::Status ParseMerges(const nlohmann::json& model, absl::string_view source);
  absl::Status ParseAddedTokens(const nlohmann::json& root, absl::string_view source);

  absl::Status ParseNormalizerStep(const nlohmann::json& step, const std::string& field,
                                   absl::string_view source);
  absl::Status ParsePreStep(const nlohmann::json& step, const std::string& field,
                            absl::string_view source);
  absl::Status ParseSplit(const nlohmann::json& step, const std::string& field,
                          absl::string_view source, PreTokenizerStep& parsed);
  absl::Status ParseDecoderStep(const nlohmann::json& step, const std::string& field,
                                absl::string_view source);
  absl::Status ParseStrip(const nlohmann::json& step, const std::string& field,
                          absl::string_view source);
  absl::Status ParseTemplate(const nlohmann::json& step, const std::string& field,
                             absl::string_view source);
  absl::Status ParseProcessorStep(const nlohmann::json& step, const std::string& field,
                                  absl::string_view source);
  void GrowIds(int32_t id);

  const AddedToken* MatchAdded(absl::string_view text, size_t pos) const;
  void EncodeSegment(absl::string_view segment, bool at_text_start,
                     std::vector<int32_t>& ids) const;
  std::vector<std::string> PreTokenize(std::string text, bool at_text_start) const;
  void EncodeWord(const std::string& word, std::vector<int32_t>& ids) const;
  std::vector<int32_t> InitialSymbols(const std::string& word) const;
  std::vector<int32_t> ApplyMerges(std::vector<int32_t> symbols) const;
  // Appends the raw bytes of `id`; strips the decoder's leading space while `at_start`.
  void AppendTokenBytes(int32_t id, bool skip_special, bool& at_start, std::string& out) const;

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, Merge> merges_;      // key: left id << 32 | right id
  std::vector<AddedToken> added_;                   // longest content first
  std::vector<std::vector<size_t>> added_by_byte_;  // indices into added_ by first byte
  std::vector<bool> is_added_, is_special_;         // by id
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  // (pattern, content) replacements in order; an empty pattern prepends the content.
  std::vector<std::pair<std::string, std::string>> normalizer_steps_;
  std::vector<PreTokenizerStep> pre_steps_;
  bool byte_level_decoder_ = false;
  bool byte_fallback_decoder_ = false;
  std::string metaspace_decoder_;  // the replacement the decoder turns back into a space
  int strip_leading_spaces_ = 0;
  std::vector<int32_t> prefix_ids_, suffix_ids_;  // the post-processor's template
  std::unique_ptr<WordCache> cache_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_TOKENIZER_BPE_TOKENIZER_H_
