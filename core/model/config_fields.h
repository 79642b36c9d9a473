// Typed, checked access to the fields of a JSON config file, with errors that name the file
// and field: "config.json: field 'num_hidden_layers' must be an integer, got string". JSON null
// counts as absent, as transformers writes None that way.
#ifndef SWITCHYARD_CORE_MODEL_CONFIG_FIELDS_H_
#define SWITCHYARD_CORE_MODEL_CONFIG_FIELDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace sy {

// Borrows the JSON object, which must outlive it.
class ConfigFields {
 public:
  // `context` is appended to missing-field errors, e.g. the architecture name.
  ConfigFields(const nlohmann::json& json, std::string source, std::string context = "")
      : json_(json), source_(std::move(source)), context_(std::move(context)) {}

  bool Has(const char* key) const;
  absl::StatusOr<std::optional<int64_t>> OptionalInt(const char* key) const;
  absl::StatusOr<std::optional<double>> OptionalNumber(const char* key) const;
  absl::StatusOr<std::optional<bool>> OptionalBool(const char* key) const;
  absl::StatusOr<std::optional<std::string>> OptionalString(const char* key) const;
  // A list of integers; a single integer reads as a list of one (eos_token_id allows both).
  absl::StatusOr<std::vector<int64_t>> IntList(const char* key) const;

  absl::StatusOr<int64_t> RequiredInt(const char* key) const;
  // Required and > 0.
  absl::StatusOr<int64_t> PositiveInt(const char* key) const;

  // "<source>: field '<key>' <what>" as an InvalidArgument error.
  absl::Status Error(const char* key, const std::string& what) const;

 private:
  // The field's value, or nullptr when absent or null.
  const nlohmann::json* Find(const char* key) const;
  absl::Status TypeError(const char* key, const char* expected, const nlohmann::json& got) const;

  const nlohmann::json& json_;
  std::string source_;
  std::string context_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CONFIG_FIELDS_H_
