#include "core/model/safetensors_writer.h"

#include <cstdint>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/safetensors.h"

namespace sy {
namespace {

absl::StatusOr<std::string> BuildHeader(const std::string& path,
                                        const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    const std::string dtype = SafetensorsDTypeName(t.tensor.dtype());
    if (t.name == "__metadata__" || header.contains(t.name) || dtype.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": cannot write tensor '", t.name, "' (", t.tensor.Describe(),
          dtype.empty() ? "): no safetensors dtype" : "): duplicate or reserved name"));
    }
    header[t.name] = {{"dtype", dtype},
                      {"shape", t.tensor.shape()},
                      {"data_offsets", {offset, offset + t.tensor.nbytes()}}};
    offset += t.tensor.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  SY_ASSIGN_OR_RETURN(const std::string header, BuildHeader(path, tensors, metadata));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  out.write(length, sizeof(length));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const NamedTensor& t : tensors) {
    Tensor host = t.tensor;
    if (!host.device().is_cpu() || !host.is_contiguous()) {
      SY_ASSIGN_OR_RETURN(host, t.tensor.To(Device::Cpu()));
    }
    out.write(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace sy
