// Leveled logging to stderr: "[level source] message". The threshold comes from the
// SWITCHYARD_LOG environment variable (debug, info, warning, error; default info).
#ifndef SWITCHYARD_CORE_BASE_LOG_H_
#define SWITCHYARD_CORE_BASE_LOG_H_

#include <optional>
#include <string_view>

#include "absl/strings/string_view.h"

namespace sy {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void Log(LogLevel level, absl::string_view source, absl::string_view message);
// "debug", "info", "warning" or "error"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(absl::string_view name);
void SetLogThreshold(LogLevel level);
LogLevel LogThreshold();

}  // namespace sy

#endif  // SWITCHYARD_CORE_BASE_LOG_H_
