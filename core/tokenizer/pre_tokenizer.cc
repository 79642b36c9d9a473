#include "core/tokenizer/pre_tokenizer.h"

#include "core/tokenizer/unicode_class.h"

namespace sy {
namespace {

constexpr absl::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr absl::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr absl::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using Text = std::span<const char32_t>;

bool IsOther(char32_t c) { return !IsWhitespace(c) && !IsLetter(c) && !IsNumber(c); }
bool IsNewline(char32_t c) { return c == '\r' || c == '\n'; }

char32_t AsciiLower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// Length of the contraction ('s 't 're 've 'm 'll 'd) at `i`, or 0.
size_t Contraction(Text t, size_t i, bool ignore_case) {
  if (t[i] != '\'' || i + 1 >= t.size()) return 0;
  auto at = [&](size_t k) { return ignore_case ? AsciiLower(t[k]) : t[k]; };
  const char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= t.size()) return 0;
  const char32_t b = at(i + 2);
  const bool two = (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l');
  return two ? 3 : 0;
}

// Length of the run of characters satisfying `pred` from `i`, up to `max`.
template <typename Pred>
size_t Run(Text t, size_t i, Pred pred, size_t max = SIZE_MAX) {
  size_t n = 0;
  while (i + n < t.size() && n < max && pred(t[i + n])) ++n;
  return n;
}

// ` ?X+` for the class `pred`: an optional ASCII space, then at least one X.
template <typename Pred>
size_t SpaceThenRun(Text t, size_t i, Pred pred) {
  const size_t space = t[i] == ' ' ? 1 : 0;
  const size_t run = Run(t, i + space, pred);
  return run > 0 ? space + run : 0;
}

// `\s+(?!\S)|\s+`: a whitespace run, minus its last character when a non-space follows (so
// that the space joins the next word), but never empty.
size_t TrailingWhitespace(Text t, size_t i) {
  const size_t run = Run(t, i, IsWhitespace);
  if (run == 0) return 0;
  if (i + run == t.size() || run == 1) return run;
  return run - 1;
}

size_t Gpt2Piece(Text t, size_t i) {
  if (size_t n = Contraction(t, i, /*ignore_case=*/false)) return n;
  if (size_t n = SpaceThenRun(t, i, IsLetter)) return n;
  if (size_t n = SpaceThenRun(t, i, IsNumber)) return n;
  if (size_t n = SpaceThenRun(t, i, IsOther)) return n;
  return TrailingWhitespace(t, i);
}

// `[^\r\n\p{L}\p{N}]?\p{L}+`
size_t PrefixedLetters(Text t, size_t i) {
  const char32_t c = t[i];
  const size_t prefix = !IsNewline(c) && !IsLetter(c) && !IsNumber(c) ? 1 : 0;
  const size_t run = Run(t, i + prefix, IsLetter);
  return run > 0 ? prefix + run : 0;
}

// `\s*[\r\n]+`: the whitespace run up to and including its last newline.
size_t WhitespaceToNewline(Text t, size_t i) {
  const size_t run = Run(t, i, IsWhitespace);
  for (size_t n = run; n > 0; --n) {
    if (IsNewline(t[i + n - 1])) return n;
  }
  return 0;
}

size_t Qwen2Piece(Text t, size_t i, size_t max_digits) {
  if (size_t n = Contraction(t, i, /*ignore_case=*/true)) return n;
  if (size_t n = PrefixedLetters(t, i)) return n;
  if (size_t n = Run(t, i, IsNumber, max_digits)) return n;
  if (size_t n = SpaceThenRun(t, i, IsOther)) return n + Run(t, i + n, IsNewline);
  if (size_t n = WhitespaceToNewline(t, i)) return n;
  return TrailingWhitespace(t, i);
}

}  // namespace

absl::StatusOr<SplitPattern> PatternFromRegex(absl::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  return absl::NotFoundError("not one of the supported split patterns (GPT-2, Qwen2, Llama-3)");
}

std::vector<size_t> SplitByPattern(SplitPattern pattern, Text text) {
  std::vector<size_t> ends;
  for (size_t i = 0; i < text.size();) {
    size_t n = 0;
    switch (pattern) {
      case SplitPattern::kGpt2:
        n = Gpt2Piece(text, i);
        break;
      case SplitPattern::kQwen2:
        n = Qwen2Piece(text, i, 1);
        break;
      case SplitPattern::kLlama3:
        n = Qwen2Piece(text, i, 3);
        break;
    }
    i += n > 0 ? n : 1;  // unreachable fallback: the patterns match every character
    ends.push_back(i);
  }
  return ends;
}

}  // namespace sy
