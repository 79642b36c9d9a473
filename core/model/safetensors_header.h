// Parsing and validating a safetensors JSON header against the size of the data section it
// describes. Separate from the mmapping in safetensors.cc so each stays one job.
#ifndef SWITCHYARD_CORE_MODEL_SAFETENSORS_HEADER_H_
#define SWITCHYARD_CORE_MODEL_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/model/safetensors.h"

namespace sy {

struct SafetensorsHeader {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// `json` is the header text of the file at `path` (named in every error); `data_size` is the
// number of bytes after the header.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const std::string& path,
                                                         const std::string& json,
                                                         int64_t data_size);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_SAFETENSORS_HEADER_H_
