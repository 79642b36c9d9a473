#include "shells/switchyard/layer_cut.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy::cli {

absl::StatusOr<int64_t> LayersToKeep(const ParsedArgs& args, int64_t all,
                                     const std::string& model) {
  SY_ASSIGN_OR_RETURN(const int64_t layers, args.GetInt("layers", all, 1));
  if (layers > all) {
    return absl::InvalidArgumentError(absl::StrCat("--layers: expected an integer in [1, ", all,
                                                   "] (", model, "'s decoder layers), got '",
                                                   args.Get("layers"), "'"));
  }
  return layers;
}

}  // namespace sy::cli
