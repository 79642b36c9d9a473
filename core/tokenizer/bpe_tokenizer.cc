#include "core/tokenizer/bpe_tokenizer.h"

#include <array>
#include <functional>
#include <mutex>
#include <queue>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/utf8.h"

namespace sy {
namespace {

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes map to
// U+0100 onwards in byte order, so that every byte is a visible character in the vocabulary.
struct ByteMap {
  std::array<std::string, 256> byte_to_char;  // UTF-8 of the byte's character
  std::array<int16_t, 324> char_to_byte;      // by code point; -1 if not a byte's character
};

const ByteMap& GetByteMap() {
  static const ByteMap map = [] {
    ByteMap m;
    m.char_to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      AppendUtf8(c, m.byte_to_char[b]);
      m.char_to_byte[c] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return map;
}

// Length of the UTF-8 sequence led by `lead`, in text already known to be valid.
size_t CharLength(char lead) {
  const auto b = static_cast<unsigned char>(lead);
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

std::string ByteLevelEncode(absl::string_view piece) {
  const ByteMap& map = GetByteMap();
  std::string out;
  for (char c : piece) out += map.byte_to_char[static_cast<unsigned char>(c)];
  return out;
}

void ByteLevelDecode(absl::string_view token, std::string& out) {
  const ByteMap& map = GetByteMap();
  const std::vector<char32_t> cps = *DecodeUtf8(token);  // JSON strings are valid UTF-8
  for (char32_t c : cps) {
    if (c < map.char_to_byte.size() && map.char_to_byte[c] >= 0) {
      out += static_cast<char>(map.char_to_byte[c]);
    } else {
      AppendUtf8(c, out);  // not from the byte alphabet: keep it as text
    }
  }
}

// The byte of a byte-fallback token "<0xAB>", or -1.
int FallbackByte(absl::string_view token) {
  if (token.size() != 6 || !absl::StartsWith(token, "<0x") || token[5] != '>') return -1;
  int value = 0;
  for (char c : token.substr(3, 2)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

std::vector<std::string> SplitPieces(SplitPattern pattern, const std::string& piece) {
  const std::vector<char32_t> cps = *DecodeUtf8(piece);  // pieces are valid UTF-8
  std::vector<std::string> out;
  size_t begin = 0;
  for (size_t end : SplitByPattern(pattern, cps)) {
    std::string& text = out.emplace_back();
    for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], text);
    begin = end;
  }
  return out;
}

// Metaspace: spaces become the replacement, which also starts the text per the prepend
// scheme; with `split`, each piece starts at a replacement (it merges with the next word).
std::vector<std::string> Metaspace(const PreTokenizerStep& step, std::string piece,
                                   bool first_piece) {
  piece = absl::StrReplaceAll(piece, {{" ", step.replacement}});
  const bool prepend = step.prepend == PreTokenizerStep::Prepend::kAlways ||
                       (step.prepend == PreTokenizerStep::Prepend::kFirst && first_piece);
  if (prepend && !absl::StartsWith(piece, step.replacement)) piece = step.replacement + piece;
  if (!step.split) return {piece};
  std::vector<std::string> out;
  size_t begin = 0;
  for (size_t at = piece.find(step.replacement, 1); at != std::string::npos;
       at = piece.find(step.replacement, at + 1)) {
    out.push_back(piece.substr(begin, at - begin));
    begin = at;
  }
  out.push_back(piece.substr(begin));
  return out;
}

}  // namespace

// Words seen before and their ids. Encode is const and may run on several threads.
struct BpeTokenizer::WordCache {
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kMaxEntries = 1 << 16;
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

BpeTokenizer::BpeTokenizer() : cache_(std::make_unique<WordCache>()) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

std::optional<int32_t> BpeTokenizer::TokenToId(absl::string_view token) const {
  for (const AddedToken& added : added_) {
    if (added.content == token) return added.id;
  }
  const auto it = token_to_id_.find(std::string(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

bool BpeTokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && is_special_[id];
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(absl::string_view text,
                                                          bool add_special_tokens) const {
  if (absl::Status valid = ValidateUtf8(text); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("text to encode: ", valid.message()));
  }
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = prefix_ids_;
  size_t segment = 0;
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* added = MatchAdded(text, pos);
    if (added == nullptr) {
      ++pos;
      continue;
    }
    if (pos > segment) EncodeSegment(text.substr(segment, pos - segment), segment == 0, ids);
    ids.push_back(added->id);
    pos += added->content.size();
    segment = pos;
  }
  if (segment < text.size()) EncodeSegment(text.substr(segment), segment == 0, ids);
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

const BpeTokenizer::AddedToken* BpeTokenizer::MatchAdded(absl::string_view text, size_t pos) const {
  for (size_t i : added_by_byte_[static_cast<unsigned char>(text[pos])]) {
    if (absl::StartsWith(text.substr(pos), added_[i].content)) return &added_[i];
  }
  return nullptr;
}

void BpeTokenizer::EncodeSegment(absl::string_view segment, bool at_text_start,
                                 std::vector<int32_t>& ids) const {
  std::string text(segment);
  for (const auto& [pattern, content] : normalizer_steps_) {
    text = pattern.empty() ? content + text : absl::StrReplaceAll(text, {{pattern, content}});
  }
  for (const std::string& word : PreTokenize(std::move(text), at_text_start)) {
    if (!word.empty()) EncodeWord(word, ids);
  }
}

std::vector<std::string> BpeTokenizer::PreTokenize(std::string text, bool at_text_start) const {
  std::vector<std::string> pieces = {std::move(text)};
  for (const PreTokenizerStep& step : pre_steps_) {
    std::vector<std::string> next;
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::vector<std::string> out;
      std::string& piece = pieces[i];
      switch (step.kind) {
        case PreTokenizerStep::Kind::kSplit:
          out = SplitPieces(step.pattern, piece);
          break;
        case PreTokenizerStep::Kind::kByteLevel:
          if (step.add_prefix_space && !absl::StartsWith(piece, " ")) piece = " " + piece;
          out = step.use_regex ? SplitPieces(SplitPattern::kGpt2, piece)
                               : std::vector<std::string>{piece};
          for (std::string& part : out) part = ByteLevelEncode(part);
          break;
        case PreTokenizerStep::Kind::kMetaspace:
          out = Metaspace(step, std::move(piece), at_text_start && i == 0);
          break;
      }
      for (std::string& part : out) next.push_back(std::move(part));
    }
    pieces = std::move(next);
  }
  return pieces;
}

void BpeTokenizer::EncodeWord(const std::string& word, std::vector<int32_t>& ids) const {
  if (ignore_merges_) {
    if (auto it = token_to_id_.find(word); it != token_to_id_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (auto it = cache_->words.find(word); it != cache_->words.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = ApplyMerges(InitialSymbols(word));
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() >= WordCache::kMaxEntries) cache_->words.clear();
    cache_->words.emplace(word, std::move(merged));
  }
}

// One symbol per character; a character outside the vocabulary becomes its bytes'
// "<0xAB>" tokens under byte fallback, else the unknown token (runs fused under fuse_unk),
// else nothing.
std::vector<int32_t> BpeTokenizer::InitialSymbols(const std::string& word) const {
  std::vector<int32_t> symbols;
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    const size_t len = CharLength(word[i]);
    const std::string ch = word.substr(i, len);
    i += len;
    if (auto it = token_to_id_.find(ch); it != token_to_id_.end()) {
      symbols.push_back(it->second);
      last_unk = false;
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (unsigned char b : ch) {
        auto it = token_to_id_.find(absl::StrFormat("<0x%02X>", b));
        if (it != token_to_id_.end()) bytes.push_back(it->second);
      }
      if (bytes.size() == ch.size()) {
        symbols.insert(symbols.end(), bytes.begin(), bytes.end());
        last_unk = false;
        continue;
      }
    }
    if (unk_id_ && !(fuse_unk_ && last_unk)) symbols.push_back(*unk_id_);
    last_unk = unk_id_.has_value();
  }
  return symbols;
}

// Rank-based BPE: repeatedly merges the adjacent pair of lowest rank (leftmost on ties) over
// a linked list, with a heap of candidate pairs whose stale entries are skipped on pop.
std::vector<int32_t> BpeTokenizer::ApplyMerges(std::vector<int32_t> symbols) const {
  const int n = static_cast<int>(symbols.size());
  std::vector<int> next(n), prev(n);
  for (int i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  using Candidate = std::tuple<int32_t, int, int32_t, int32_t>;  // rank, left, ids
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int32_t a = symbols[left], b = symbols[next[left]];
    if (auto it = merges_.find(MergeKey(a, b)); it != merges_.end()) {
      heap.emplace(it->second.rank, left, a, b);
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const auto [rank, left, a, b] = heap.top();
    heap.pop();
    const int right = next[left];
    if (symbols[left] != a || right < 0 || symbols[right] != b) continue;
    symbols[left] = merges_.at(MergeKey(a, b)).result;
    symbols[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    consider(prev[left]);
    consider(left);
  }
  std::vector<int32_t> out;
  for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(symbols[i]);
  return out;
}

void BpeTokenizer::AppendTokenBytes(int32_t id, bool skip_special, bool& at_start,
                                    std::string& out) const {
  if (id < 0 || id >= vocab_size()) {
    // Models pad their vocabulary past the tokenizer's (Qwen: 151,936 rows for 151,665 tokens)
    // and random weights pick any row: such an id shows as U+FFFD rather than vanishing.
    out += "\xEF\xBF\xBD";
    at_start = false;
    return;
  }
  if (skip_special && is_special_[id]) return;
  const std::string& token = id_to_token_[id];
  std::string bytes;
  const int fallback = byte_fallback_decoder_ ? FallbackByte(token) : -1;
  if (is_added_[id]) {
    bytes = token;
  } else if (byte_level_decoder_) {
    ByteLevelDecode(token, bytes);
  } else if (fallback >= 0) {
    bytes = static_cast<char>(fallback);
  } else {
    bytes = metaspace_decoder_.empty() ? token
                                       : absl::StrReplaceAll(token, {{metaspace_decoder_, " "}});
  }
  if (at_start && !bytes.empty()) {
    size_t strip = 0;
    while (strip < bytes.size() && strip < static_cast<size_t>(strip_leading_spaces_) &&
           bytes[strip] == ' ') {
      ++strip;
    }
    bytes.erase(0, strip);
    at_start = false;
  }
  out += bytes;
}

std::string BpeTokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool at_start = true;
  for (int32_t id : ids) AppendTokenBytes(id, skip_special_tokens, at_start, bytes);
  return ToValidUtf8(bytes);
}

std::string BpeTokenizer::IncrementalDecoder::Push(int32_t id) {
  tokenizer_->AppendTokenBytes(id, skip_special_, at_start_, pending_);
  const size_t complete = pending_.size() - IncompleteUtf8Suffix(pending_);
  std::string text = ToValidUtf8(absl::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return text;
}

std::string BpeTokenizer::IncrementalDecoder::Flush() {
  std::string text = ToValidUtf8(pending_);
  pending_.clear();
  return text;
}

}  // namespace sy
