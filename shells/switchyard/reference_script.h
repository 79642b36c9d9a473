// The torch reference scripts benchmarks run beside their own figures (scripts/reference/*.py):
// $SWITCHYARD_REFERENCE_DIR, then share/switchyard/reference beside the executable, then the
// source tree this binary was built from.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_REFERENCE_SCRIPT_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_REFERENCE_SCRIPT_H_

#include <string>

namespace sy::cli {

// The path of reference script `name`, or empty when none of the places has it.
std::string ReferenceScript(const std::string& name);

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_REFERENCE_SCRIPT_H_
