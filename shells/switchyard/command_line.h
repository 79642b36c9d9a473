// Command-line parsing shared by the switchyard subcommands: long options (--name value,
// --name=value, or flags), positionals, and a "--" that ends option parsing.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_COMMAND_LINE_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_COMMAND_LINE_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sy::cli {

struct OptionSpec {
  std::string name;  // without the leading "--"
  bool takes_value;
  bool repeatable = false;
};

struct ParsedArgs {
  std::multimap<std::string, std::string> options;  // flags map to ""
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  // The option as an integer in [min, max] (max defaults to T's largest, so a value never
  // wraps), `fallback` when absent; otherwise an error naming the option and the value.
  template <typename T>
  absl::StatusOr<T> GetInt(const std::string& name, T fallback, std::type_identity_t<T> min,
                           std::type_identity_t<T> max = std::numeric_limits<T>::max()) const {
    static_assert(std::is_integral_v<T>);
    constexpr int64_t kTop = std::numeric_limits<int64_t>::max();
    const absl::StatusOr<int64_t> value =
        GetInt64(name, static_cast<int64_t>(fallback), static_cast<int64_t>(min),
                 std::cmp_less(kTop, max) ? kTop : static_cast<int64_t>(max));
    if (!value.ok()) return value.status();
    return static_cast<T>(*value);
  }

 private:
  absl::StatusOr<int64_t> GetInt64(const std::string& name, int64_t fallback, int64_t min,
                                   int64_t max) const;
};

// Parses args (without the program and command names). Options after the first positional
// are still options unless `stop_at_positional` is set (then the rest is positional, as
// `switchyard run SCRIPT args...` needs). Unknown options are errors naming the option.
absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args,
                                 const std::vector<OptionSpec>& spec, bool stop_at_positional);

// Options every command accepts.
const std::vector<OptionSpec>& CommonOptions();

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_COMMAND_LINE_H_
