#include "core/model/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

using Json = nlohmann::json;

// Shapes whose byte count would not fit an int64_t are rejected before multiplying.
constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 8;

absl::Status TensorError(const std::string& path, const std::string& name,
                         const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ", what));
}

// nlohmann parses every non-negative integer literal as unsigned.
std::optional<int64_t> NonNegativeInt(const Json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  const uint64_t v = j.get<uint64_t>();
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(v);
}

absl::StatusOr<Shape> ParseShape(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_array() || j.size() > SY_MAX_DIMS) {
    return TensorError(path, name,
                       absl::StrCat("'shape' must be a list of at most ", SY_MAX_DIMS,
                                    " dimensions, got ", j.dump()));
  }
  Shape shape;
  int64_t elements = 1;
  for (const Json& d : j) {
    const std::optional<int64_t> dim = NonNegativeInt(d);
    if (!dim) {
      return TensorError(path, name, absl::StrCat("bad dimension ", d.dump(), " in 'shape'"));
    }
    if (*dim != 0 && elements > kMaxElements / *dim) {
      return TensorError(path, name, absl::StrCat("shape ", j.dump(), " is too large"));
    }
    elements *= *dim;
    shape.push_back(*dim);
  }
  return shape;
}

absl::StatusOr<TensorInfo> ParseEntry(const std::string& path, const std::string& name,
                                      const Json& j, int64_t data_size) {
  if (!j.is_object()) return TensorError(path, name, "entry is not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(field)) return TensorError(path, name, absl::StrCat("missing '", field, "'"));
  }
  TensorInfo info;
  if (!j["dtype"].is_string()) return TensorError(path, name, "'dtype' must be a string");
  const std::string dtype = j["dtype"].get<std::string>();
  info.dtype = DTypeFromSafetensors(dtype);
  if (info.dtype == DType::kInvalid) {
    return TensorError(path, name, absl::StrCat("unsupported dtype ", dtype));
  }
  SY_ASSIGN_OR_RETURN(info.shape, ParseShape(path, name, j["shape"]));
  const Json& offsets = j["data_offsets"];
  const bool pair = offsets.is_array() && offsets.size() == 2;
  const std::optional<int64_t> begin = pair ? NonNegativeInt(offsets[0]) : std::nullopt;
  const std::optional<int64_t> end = pair ? NonNegativeInt(offsets[1]) : std::nullopt;
  if (!begin || !end) {
    return TensorError(path, name,
                       absl::StrCat("'data_offsets' must be two non-negative "
                                    "integers, got ",
                                    offsets.dump()));
  }
  info.begin = *begin;
  info.end = *end;
  if (info.begin > info.end) {
    return TensorError(path, name,
                       absl::StrCat("data_offsets ", offsets.dump(), " end before they begin"));
  }
  if (info.end > data_size) {
    return TensorError(
        path, name,
        absl::StrCat("data_offsets [", info.begin, ", ", info.end,
                     ") run past the data section of ", data_size, " bytes (truncated file?)"));
  }
  const int64_t expected = DTypeBytes(info.dtype, NumElements(info.shape));
  if (info.end - info.begin != expected) {
    return TensorError(
        path, name,
        absl::StrCat("data_offsets [", info.begin, ", ", info.end, ") hold ", info.end - info.begin,
                     " bytes but ", dtype, ShapeToString(info.shape), " needs ", expected));
  }
  return info;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const std::string& path,
                                                                 const Json& j) {
  std::map<std::string, std::string> metadata;
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": '__metadata__' must be an object"));
  }
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '__metadata__' value of '", key, "' must be a string"));
    }
    metadata[key] = value.get<std::string>();
  }
  return metadata;
}

// Two tensors sharing bytes would alias each other; a lying header's way to do damage.
absl::Status CheckNoOverlap(const std::string& path,
                            const std::map<std::string, TensorInfo>& tensors) {
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [name, info] : tensors) {
    if (info.end > info.begin) order.emplace_back(&name, &info);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i].second->begin < order[i - 1].second->end) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensors '", *order[i - 1].first,
                                                     "' and '", *order[i].first,
                                                     "' overlap in the data section"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(const std::string& path,
                                                         const std::string& json,
                                                         int64_t data_size) {
  const Json header = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is not a JSON object (not a safetensors file?)"));
  }
  SafetensorsHeader out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      SY_ASSIGN_OR_RETURN(out.metadata, ParseMetadata(path, entry));
      continue;
    }
    SY_ASSIGN_OR_RETURN(out.tensors[name], ParseEntry(path, name, entry, data_size));
  }
  SY_RETURN_IF_ERROR(CheckNoOverlap(path, out.tensors));
  return out;
}

}  // namespace sy
