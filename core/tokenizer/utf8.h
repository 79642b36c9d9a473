// UTF-8 validation, decoding and encoding for the tokenizer.
#ifndef SWITCHYARD_CORE_TOKENIZER_UTF8_H_
#define SWITCHYARD_CORE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sy {

// OK if `text` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF);
// otherwise InvalidArgument naming the byte offset of the first bad sequence.
absl::Status ValidateUtf8(absl::string_view text);

// The code points of `text`, or the error of ValidateUtf8.
absl::StatusOr<std::vector<char32_t>> DecodeUtf8(absl::string_view text);

// Appends the UTF-8 encoding of `c` (which must be a valid scalar value).
void AppendUtf8(char32_t c, std::string& out);

// `bytes` with each ill-formed sequence replaced by U+FFFD, as decoders of model output do.
std::string ToValidUtf8(absl::string_view bytes);

// The length of the trailing bytes of `bytes` that start a well-formed sequence but do not
// finish it yet (0 to 3): what a streaming decoder holds back until the next token.
size_t IncompleteUtf8Suffix(absl::string_view bytes);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TOKENIZER_UTF8_H_
