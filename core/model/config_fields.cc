#include "core/model/config_fields.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

std::string TypeName(const nlohmann::json& j) {
  if (j.is_number_float()) return "a fractional number";
  return j.type_name();
}

}  // namespace

const nlohmann::json* ConfigFields::Find(const char* key) const {
  if (!json_.is_object()) return nullptr;
  auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? nullptr : &*it;
}

bool ConfigFields::Has(const char* key) const { return Find(key) != nullptr; }

absl::Status ConfigFields::Error(const char* key, const std::string& what) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, ": field '", key, "' ", what));
}

absl::Status ConfigFields::TypeError(const char* key, const char* expected,
                                     const nlohmann::json& got) const {
  return Error(key, absl::StrCat("must be ", expected, ", got ", TypeName(got)));
}

absl::StatusOr<std::optional<int64_t>> ConfigFields::OptionalInt(const char* key) const {
  const nlohmann::json* j = Find(key);
  if (j == nullptr) return std::nullopt;
  if (!j->is_number_integer()) return TypeError(key, "an integer", *j);
  if (j->is_number_unsigned() && j->get<uint64_t>() > INT64_MAX) {
    return Error(key, "is out of range");
  }
  return j->get<int64_t>();
}

absl::StatusOr<std::optional<double>> ConfigFields::OptionalNumber(const char* key) const {
  const nlohmann::json* j = Find(key);
  if (j == nullptr) return std::nullopt;
  if (!j->is_number()) return TypeError(key, "a number", *j);
  return j->get<double>();
}

absl::StatusOr<std::optional<bool>> ConfigFields::OptionalBool(const char* key) const {
  const nlohmann::json* j = Find(key);
  if (j == nullptr) return std::nullopt;
  if (!j->is_boolean()) return TypeError(key, "a boolean", *j);
  return j->get<bool>();
}

absl::StatusOr<std::optional<std::string>> ConfigFields::OptionalString(const char* key) const {
  const nlohmann::json* j = Find(key);
  if (j == nullptr) return std::nullopt;
  if (!j->is_string()) return TypeError(key, "a string", *j);
  return j->get<std::string>();
}

absl::StatusOr<std::vector<int64_t>> ConfigFields::IntList(const char* key) const {
  const nlohmann::json* j = Find(key);
  if (j == nullptr) return std::vector<int64_t>{};
  if (j->is_number_integer()) return std::vector<int64_t>{j->get<int64_t>()};
  if (!j->is_array()) return TypeError(key, "an integer or a list of integers", *j);
  std::vector<int64_t> out;
  for (const nlohmann::json& item : *j) {
    if (!item.is_number_integer()) return TypeError(key, "a list of integers, one item", item);
    out.push_back(item.get<int64_t>());
  }
  return out;
}

absl::StatusOr<int64_t> ConfigFields::RequiredInt(const char* key) const {
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> v, OptionalInt(key));
  if (!v) {
    const std::string context = context_.empty() ? "" : absl::StrCat(" (", context_, ")");
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": missing required field '", key, "'", context));
  }
  return *v;
}

absl::StatusOr<int64_t> ConfigFields::PositiveInt(const char* key) const {
  SY_ASSIGN_OR_RETURN(int64_t v, RequiredInt(key));
  if (v <= 0) return Error(key, absl::StrCat("must be positive, got ", v));
  return v;
}

}  // namespace sy
