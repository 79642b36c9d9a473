// Writes .safetensors files in the layout Hugging Face's writer uses (header padded with spaces
// to a multiple of 8 bytes so the data section is 8-byte aligned), for `switchyard make-model`
// and for test fixtures.
#ifndef SWITCHYARD_CORE_MODEL_SAFETENSORS_WRITER_H_
#define SWITCHYARD_CORE_MODEL_SAFETENSORS_WRITER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/tensor/tensor.h"

namespace sy {

struct NamedTensor {
  std::string name;
  Tensor tensor;  // contiguous, on any device (device tensors are copied to the host)
};

// Writes `tensors` in the order given; names must be unique and not "__metadata__".
absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_SAFETENSORS_WRITER_H_
