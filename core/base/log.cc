#include "core/base/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace sy {
namespace {

LogLevel ThresholdFromEnvironment() {
  const char* value = std::getenv("SWITCHYARD_LOG");
  return ParseLogLevel(value ? value : "").value_or(LogLevel::kInfo);
}

std::atomic<LogLevel>& Threshold() {
  static std::atomic<LogLevel> threshold{ThresholdFromEnvironment()};
  return threshold;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(absl::string_view name) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (name == LevelName(level)) return level;
  }
  return std::nullopt;
}

void Log(LogLevel level, absl::string_view source, absl::string_view message) {
  if (level < Threshold().load()) return;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[%s %.*s] %.*s\n", LevelName(level), static_cast<int>(source.size()),
               source.data(), static_cast<int>(message.size()), message.data());
}

void SetLogThreshold(LogLevel level) { Threshold().store(level); }
LogLevel LogThreshold() { return Threshold().load(); }

}  // namespace sy
