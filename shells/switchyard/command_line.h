// Command-line parsing shared by the switchyard subcommands: long options (--name value,
// --name=value, or flags), positionals, and a "--" that ends option parsing.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_COMMAND_LINE_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_COMMAND_LINE_H_

#include <cstdint>
#include <map>
#include <string>
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
  // The option as an integer, `fallback` when absent; an error naming the option when the
  // value is not an integer or is below `min`.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min) const;
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
