// A configuration as plain data: what a Lua table (or, later, JSON) becomes before it is
// checked against a component's Cap'n Proto config schema.
#ifndef SWITCHYARD_CORE_CONFIG_CONFIG_VALUE_H_
#define SWITCHYARD_CORE_CONFIG_CONFIG_VALUE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sy {

struct ConfigValue;
using ConfigList = std::vector<ConfigValue>;
// Ordered: printing and errors follow the order of the entries (Lua tables arrive sorted
// by key, since they have no order of their own).
using ConfigTable = std::vector<std::pair<std::string, ConfigValue>>;

struct ConfigValue {
  std::variant<std::monostate, bool, int64_t, double, std::string, ConfigList, ConfigTable> value;

  bool is_bool() const { return std::holds_alternative<bool>(value); }
  bool is_integer() const { return std::holds_alternative<int64_t>(value); }
  bool is_number() const { return is_integer() || std::holds_alternative<double>(value); }
  bool is_string() const { return std::holds_alternative<std::string>(value); }
  bool is_list() const { return std::holds_alternative<ConfigList>(value); }
  bool is_table() const { return std::holds_alternative<ConfigTable>(value); }

  double as_number() const {
    return is_integer() ? static_cast<double>(std::get<int64_t>(value)) : std::get<double>(value);
  }
  // "integer", "number", "string", ... for error messages.
  const char* type_name() const;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_CONFIG_CONFIG_VALUE_H_
