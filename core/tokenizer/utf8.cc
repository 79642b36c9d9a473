#include "core/tokenizer/utf8.h"

#include "absl/strings/str_cat.h"

namespace sy {
namespace {

enum class SeqKind { kValid, kInvalid, kTruncated };

struct Seq {
  SeqKind kind;
  size_t len;  // bytes consumed; for kInvalid the maximal ill-formed subpart (at least 1)
  char32_t cp;
};

// Reads the sequence at `pos`. The allowed range of the second byte depends on the lead
// byte; that is what excludes overlongs, surrogates and values past U+10FFFF.
Seq ReadSequence(absl::string_view s, size_t pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  if (lead < 0x80) return {SeqKind::kValid, 1, lead};
  size_t need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1, cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2, cp = lead & 0x0F;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3, cp = lead & 0x07;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {SeqKind::kInvalid, 1, 0};
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (pos + i >= s.size()) return {SeqKind::kTruncated, i, 0};
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if (b < lo || b > hi) return {SeqKind::kInvalid, i, 0};
    lo = 0x80, hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  return {SeqKind::kValid, i, cp};
}

absl::Status InvalidAt(size_t offset) {
  return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte offset ", offset));
}

}  // namespace

absl::Status ValidateUtf8(absl::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const Seq seq = ReadSequence(text, pos);
    if (seq.kind != SeqKind::kValid) return InvalidAt(pos);
    pos += seq.len;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<char32_t>> DecodeUtf8(absl::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const Seq seq = ReadSequence(text, pos);
    if (seq.kind != SeqKind::kValid) return InvalidAt(pos);
    out.push_back(seq.cp);
    pos += seq.len;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string ToValidUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const Seq seq = ReadSequence(bytes, pos);
    if (seq.kind == SeqKind::kValid) {
      out.append(bytes.data() + pos, seq.len);
    } else {
      AppendUtf8(0xFFFD, out);
    }
    pos += seq.len;
  }
  return out;
}

size_t IncompleteUtf8Suffix(absl::string_view bytes) {
  // A sequence is at most 4 bytes, so only a lead byte among the last 3 can be unfinished;
  // the last non-continuation byte is the only candidate.
  const size_t from = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t pos = bytes.size(); pos > from; --pos) {
    const auto b = static_cast<unsigned char>(bytes[pos - 1]);
    if ((b & 0xC0) == 0x80) continue;
    const bool open = ReadSequence(bytes, pos - 1).kind == SeqKind::kTruncated;
    return open ? bytes.size() - (pos - 1) : 0;
  }
  return 0;
}

}  // namespace sy
