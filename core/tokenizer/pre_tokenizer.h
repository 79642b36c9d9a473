// The regex split patterns of the supported tokenizer families, hand-written over code points
// (std::regex has no \p{L}). Each function reproduces the leftmost-first matching of the
// pattern as the Rust/Oniguruma engines of HF tokenizers run it; every code point lands in
// exactly one piece because each pattern's last alternatives match any remaining character.
#ifndef SWITCHYARD_CORE_TOKENIZER_PRE_TOKENIZER_H_
#define SWITCHYARD_CORE_TOKENIZER_PRE_TOKENIZER_H_

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sy {

enum class SplitPattern {
  // GPT-2, also the ByteLevel pre-tokenizer's use_regex (OLMoE / GPT-NeoX):
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Qwen2/Qwen3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
  //   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,
  // Llama-3: the Qwen2 pattern with \p{N}{1,3} in place of \p{N}.
  kLlama3,
};

// One pre-tokenizer of tokenizer.json; a Sequence becomes several steps run in order.
struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace };
  enum class Prepend { kNever, kFirst, kAlways };  // Metaspace's prepend_scheme
  Kind kind = Kind::kSplit;
  SplitPattern pattern = SplitPattern::kGpt2;  // kSplit
  bool add_prefix_space = false;               // kByteLevel
  bool use_regex = true;                       // kByteLevel: split with the GPT-2 pattern
  std::string replacement;                     // kMetaspace: stands for a space, "▁"
  Prepend prepend = Prepend::kNever;           // kMetaspace
  bool split = true;                           // kMetaspace: split before each replacement
};

// The pattern whose regex source (as written in tokenizer.json) is `regex`; NotFound if it
// is none of the supported ones.
absl::StatusOr<SplitPattern> PatternFromRegex(absl::string_view regex);

// End offsets (exclusive, ascending, the last one text.size()) of the pieces of `text`.
std::vector<size_t> SplitByPattern(SplitPattern pattern, std::span<const char32_t> text);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TOKENIZER_PRE_TOKENIZER_H_
