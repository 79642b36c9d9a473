#include "shells/switchyard/command_line.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/log.h"

namespace sy::cli {

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  return it == options.end() ? fallback : it->second;
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  std::vector<std::string> values;
  auto [begin, end] = options.equal_range(name);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

absl::StatusOr<int64_t> ParsedArgs::GetInt64(const std::string& name, int64_t fallback, int64_t min,
                                             int64_t max) const {
  if (!Has(name)) return fallback;
  int64_t value = 0;
  const bool number = absl::SimpleAtoi(Get(name), &value);
  if (!number || value < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected an integer >= ", min, ", got '", Get(name), "'"));
  }
  if (value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected an integer in [", min,
                                                   ", ", max, "], got '", Get(name), "'"));
  }
  return value;
}

const std::vector<OptionSpec>& CommonOptions() {
  static const std::vector<OptionSpec> options = {
      {"help", false}, {"plugin-path", true, true}, {"log", true}};
  return options;
}

absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args,
                                 const std::vector<OptionSpec>& spec, bool stop_at_positional) {
  std::vector<OptionSpec> all = CommonOptions();
  all.insert(all.end(), spec.begin(), spec.end());
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (!absl::StartsWith(a, "--") || a.size() == 2) {
      if (stop_at_positional) {
        parsed.positional.insert(parsed.positional.end(), args.begin() + i, args.end());
        break;
      }
      parsed.positional.push_back(a);
      continue;
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto it =
        std::find_if(all.begin(), all.end(), [&](const OptionSpec& o) { return o.name == name; });
    if (it == all.end()) return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    if (!it->repeatable && parsed.Has(name)) {
      return absl::InvalidArgumentError(absl::StrCat("option --", name, " given twice"));
    }
    if (!it->takes_value) {
      if (eq != std::string::npos)
        return absl::InvalidArgumentError(absl::StrCat("option --", name, " takes no value"));
      parsed.options.emplace(name, "");
      continue;
    }
    if (eq != std::string::npos) {
      parsed.options.emplace(name, a.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      parsed.options.emplace(name, args[++i]);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("option --", name, " needs a value"));
    }
  }
  if (parsed.Has("log") && !ParseLogLevel(parsed.Get("log"))) {
    return absl::InvalidArgumentError("option --log must be debug, info, warning or error");
  }
  return parsed;
}

}  // namespace sy::cli
