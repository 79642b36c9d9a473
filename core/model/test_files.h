// Raw file writers for fixtures that WriteSafetensors would refuse to produce (lying headers,
// truncated data). Scratch folders come from tests/support/scratch_dir.h.
#ifndef SWITCHYARD_CORE_MODEL_TEST_FILES_H_
#define SWITCHYARD_CORE_MODEL_TEST_FILES_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/scratch_dir.h"

namespace sy::testing_support {

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A safetensors file with `header` as its JSON text, verbatim, and `data` after it.
inline void WriteRawSafetensors(const std::string& path, const std::string& header,
                                const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  WriteFile(path, bytes + header + data);
}

}  // namespace sy::testing_support

#endif  // SWITCHYARD_CORE_MODEL_TEST_FILES_H_
