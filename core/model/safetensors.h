// Reads .safetensors files: an 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the raw data section.
//
// The file is mmapped read-only and tensors are zero-copy views of the mapping; each view
// holds the mapping, so it stays valid after the SafetensorsFile is gone. Open() validates the
// whole header up front (offsets inside the data section, sizes matching shape x dtype, no
// overlaps), so a corrupt or lying file is an error naming the file and tensor, never a crash
// later. Every error message starts with the file's path.
#ifndef SWITCHYARD_CORE_MODEL_SAFETENSORS_H_
#define SWITCHYARD_CORE_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// The DType for a safetensors dtype string ("F32", "BF16", "BOOL" -> kU8, ...); kInvalid for
// one Switchyard has no type for (F64, I16, U32, F8_E5M2, ...).
DType DTypeFromSafetensors(const std::string& name);
// The safetensors string for `dtype`; empty for the packed 4-bit types, which have none.
std::string SafetensorsDTypeName(DType dtype);

struct TensorInfo {
  DType dtype = DType::kInvalid;
  Shape shape;
  // Byte range [begin, end) within the data section (after the header).
  int64_t begin = 0;
  int64_t end = 0;
};

class SafetensorsFile {
 public:
  static absl::StatusOr<std::shared_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  // Sorted.
  std::vector<std::string> names() const;
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  absl::StatusOr<TensorInfo> Info(const std::string& name) const;
  // A read-only view into the mapping (writing through it faults). Data is only as aligned as
  // the file makes it: writers pad the header to 8 bytes, which x86 and CUDA copies need not.
  absl::StatusOr<Tensor> Get(const std::string& name) const;
  // The header's "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  std::shared_ptr<Buffer> data_;  // the data section; holds the mapping alive
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_SAFETENSORS_H_
