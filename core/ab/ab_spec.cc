#include "core/ab/ab_spec.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sy::ab {

absl::StatusOr<SideSpec> ParseSide(absl::string_view spec) {
  SideSpec side;
  ModelOptions& options = side.model;
  std::set<std::string> seen;
  bool overflow_set = false;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", part, "': expected key=value (keys: ", kSideKeys, ")"));
    }
    const std::string key(absl::StripAsciiWhitespace(part.substr(0, eq)));
    const std::string value(absl::StripAsciiWhitespace(part.substr(eq + 1)));
    if (!seen.insert(key).second)
      return absl::InvalidArgumentError(absl::StrCat("'", key, "' is given twice"));
    if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("'", key, "' has no value"));
    if (key == "router") {
      options.router = value;
    } else if (key == "quantizer") {
      // "none" is the baseline people mean by bf16: no conversion of the expert weights.
      options.quantizer = value == "none" ? "" : value;
    } else if (key == "experts") {
      options.experts = value;
    } else if (key == "expert_cache") {
      int64_t slots = 0;
      if (!absl::SimpleAtoi(value, &slots) || slots < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("expert_cache: expected a number of experts >= 1, got '", value, "'"));
      }
      options.experts_config = ConfigValue{ConfigTable{{"cacheExperts", ConfigValue{slots}}}};
    } else if (key == "capacity") {
      double factor = 0;
      if (!absl::SimpleAtod(value, &factor) || !(factor > 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("capacity: expected a factor > 0, got '", value, "'"));
      }
      if (!options.capacity) options.capacity.emplace();
      options.capacity->factor = factor;
    } else if (key == "overflow") {
      if (value != "drop" && value != "reroute") {
        return absl::InvalidArgumentError(
            absl::StrCat("overflow: expected drop or reroute, got '", value, "'"));
      }
      if (!options.capacity) options.capacity.emplace();
      options.capacity->overflow =
          value == "drop" ? CapacityLimit::Overflow::kDrop : CapacityLimit::Overflow::kReroute;
      overflow_set = true;
    } else if (key == "comm") {
      side.comm = value;
    } else if (key == "ranks") {
      if (!absl::SimpleAtoi(value, &side.ranks) || side.ranks < 1 || side.ranks > kMaxRanks) {
        return absl::InvalidArgumentError(absl::StrCat("ranks: expected an integer from 1 to ",
                                                       kMaxRanks, ", got '", value, "'"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key '", key, "' (keys: ", kSideKeys, ")"));
    }
  }
  if (overflow_set && !seen.count("capacity"))
    return absl::InvalidArgumentError("overflow needs capacity=FACTOR");
  if (seen.count("ranks") && side.comm.empty())
    return absl::InvalidArgumentError(
        "ranks needs comm=K.N: the backend the ranks exchange through");
  return side;
}

}  // namespace sy::ab
