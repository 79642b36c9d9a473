#include "core/plugin_host/host_api.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/log.h"
#include "core/device/cuda_runtime.h"

// The definition behind the ABI's opaque error type. Only the host allocates and frees it.
struct sy_error {
  sy_status_code code;
  std::string message;
};

namespace sy {
namespace {

absl::StatusCode ToStatusCode(sy_status_code code) {
  switch (code) {
    case SY_OK:
      return absl::StatusCode::kOk;
    case SY_INVALID_ARGUMENT:
      return absl::StatusCode::kInvalidArgument;
    case SY_FAILED_PRECONDITION:
      return absl::StatusCode::kFailedPrecondition;
    case SY_OUT_OF_RANGE:
      return absl::StatusCode::kOutOfRange;
    case SY_RESOURCE_EXHAUSTED:
      return absl::StatusCode::kResourceExhausted;
    case SY_UNAVAILABLE:
      return absl::StatusCode::kUnavailable;
    case SY_UNIMPLEMENTED:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

sy_status_code FromStatusCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return SY_OK;
    case absl::StatusCode::kInvalidArgument:
      return SY_INVALID_ARGUMENT;
    case absl::StatusCode::kFailedPrecondition:
      return SY_FAILED_PRECONDITION;
    case absl::StatusCode::kOutOfRange:
      return SY_OUT_OF_RANGE;
    case absl::StatusCode::kResourceExhausted:
      return SY_RESOURCE_EXHAUSTED;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return SY_UNAVAILABLE;
    case absl::StatusCode::kUnimplemented:
      return SY_UNIMPLEMENTED;
    default:
      return SY_INTERNAL;
  }
}

// Returned when allocating an error fails; never freed.
sy_error out_of_memory_error{SY_RESOURCE_EXHAUSTED, "out of memory creating an error"};

sy_error* ErrorCreate(sy_status_code code, const char* message) {
  try {
    return new sy_error{code, message != nullptr ? message : ""};
  } catch (...) {
    return &out_of_memory_error;
  }
}

void ErrorFree(sy_error* error) {
  if (error != &out_of_memory_error) delete error;
}

sy_status_code ErrorCode(const sy_error* error) { return error ? error->code : SY_OK; }
const char* ErrorMessage(const sy_error* error) { return error ? error->message.c_str() : ""; }

void HostLog(sy_log_level level, const char* source, const char* message) {
  const LogLevel l = level == SY_LOG_DEBUG     ? LogLevel::kDebug
                     : level == SY_LOG_INFO    ? LogLevel::kInfo
                     : level == SY_LOG_WARNING ? LogLevel::kWarning
                                               : LogLevel::kError;
  Log(l, source ? source : "plugin", message ? message : "");
}

int32_t DeviceCount(sy_device_type type) {
  switch (type) {
    case SY_DEVICE_CPU:
      return 1;
    case SY_DEVICE_CUDA:
      return cuda::DeviceCount();
  }
  return 0;
}

}  // namespace

const sy_host* HostApi() {
  static const sy_host host = {sizeof(sy_host), SY_ABI_MAJOR, SY_ABI_MINOR, ErrorCreate, ErrorFree,
                               ErrorCode,       ErrorMessage, HostLog,      DeviceCount};
  return &host;
}

absl::Status TakePluginError(sy_error* error, absl::string_view context) {
  if (error == nullptr) return absl::OkStatus();
  absl::Status status(ToStatusCode(error->code), absl::StrCat(context, ": ", error->message));
  ErrorFree(error);
  return status;
}

sy_error* StatusToPluginError(const absl::Status& status) {
  if (status.ok()) return nullptr;
  return ErrorCreate(FromStatusCode(status.code()), std::string(status.message()).c_str());
}

}  // namespace sy
