// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, with the HTTP
// status they travel under. Inside the server an error is an absl::Status whose code picks the
// HTTP status and whose payloads carry OpenAI's `param` (the request field at fault) and
// `code`, so parsing and the engine report errors the same way and one function maps both.
#ifndef SWITCHYARD_CORE_SERVING_OPENAI_ERROR_H_
#define SWITCHYARD_CORE_SERVING_OPENAI_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sy::openai {

struct ApiError {
  int http_status = 500;
  std::string message;
  std::string type;   // "invalid_request_error", "rate_limit_error" or "server_error"
  std::string param;  // empty: null
  std::string code;   // empty: null

  // The response body: {"error": {...}}.
  std::string Body() const;
};

// InvalidArgument (HTTP 400) naming the request field `param` (e.g. "max_tokens",
// "messages[2].content"); `code` is OpenAI's machine-readable code when it has one
// (e.g. "context_length_exceeded").
absl::Status InvalidParam(absl::string_view param, absl::string_view message,
                          absl::string_view code = "");

// NotFound (HTTP 404) with code "model_not_found", OpenAI's answer to an unknown model.
absl::Status ModelNotFound(absl::string_view model);

// Status → ApiError: InvalidArgument and OutOfRange → 400, NotFound → 404, ResourceExhausted →
// 429, Unavailable → 503, anything else → 500. The payloads set by InvalidParam and
// ModelNotFound fill `param` and `code`.
ApiError ToApiError(const absl::Status& status);

// An error the HTTP layer raises itself (unknown path, wrong method, body too large).
ApiError HttpError(int http_status, absl::string_view message, absl::string_view code = "");

}  // namespace sy::openai

#endif  // SWITCHYARD_CORE_SERVING_OPENAI_ERROR_H_
