// The character classes the pre-tokenizer split patterns use: \p{L}, \p{N} and \s.
//
// Letters and numbers come from tables generated from the Unicode database (see
// gen_unicode_tables.py) rather than iswalpha(), which depends on the process locale. The
// tables follow one Unicode version (recorded in unicode_tables.cc); characters assigned
// later are classed as neither, which can change how text in newly added scripts splits.
#ifndef SWITCHYARD_CORE_TOKENIZER_UNICODE_CLASS_H_
#define SWITCHYARD_CORE_TOKENIZER_UNICODE_CLASS_H_

namespace sy {

bool IsLetter(char32_t c);      // \p{L}
bool IsNumber(char32_t c);      // \p{N}
bool IsWhitespace(char32_t c);  // \s: the Unicode White_Space property

}  // namespace sy

#endif  // SWITCHYARD_CORE_TOKENIZER_UNICODE_CLASS_H_
