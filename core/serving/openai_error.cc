#include "core/serving/openai_error.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace sy::openai {
namespace {

constexpr absl::string_view kParamPayload = "switchyard/openai.param";
constexpr absl::string_view kCodePayload = "switchyard/openai.code";

std::string PayloadOf(const absl::Status& status, absl::string_view key) {
  const auto payload = status.GetPayload(key);  // absl::optional<absl::Cord>
  return payload ? std::string(*payload) : std::string();
}

const char* TypeFor(int http_status) {
  if (http_status == 429) return "rate_limit_error";
  return http_status >= 500 ? "server_error" : "invalid_request_error";
}

nlohmann::ordered_json NullIfEmpty(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

}  // namespace

std::string ApiError::Body() const {
  const nlohmann::ordered_json body = {{"error",
                                        {{"message", message},
                                         {"type", type},
                                         {"param", NullIfEmpty(param)},
                                         {"code", NullIfEmpty(code)}}}};
  // Messages may quote client input; replace rather than throw on invalid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::Status InvalidParam(absl::string_view param, absl::string_view message,
                          absl::string_view code) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kParamPayload, absl::Cord(param));
  if (!code.empty()) status.SetPayload(kCodePayload, absl::Cord(code));
  return status;
}

absl::Status ModelNotFound(absl::string_view model) {
  absl::Status status =
      absl::NotFoundError(absl::StrCat("The model `", model, "` does not exist."));
  status.SetPayload(kParamPayload, absl::Cord("model"));
  status.SetPayload(kCodePayload, absl::Cord("model_not_found"));
  return status;
}

ApiError ToApiError(const absl::Status& status) {
  int http_status = 500;
  std::string code;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      http_status = 400;
      break;
    case absl::StatusCode::kNotFound:
      http_status = 404;
      break;
    case absl::StatusCode::kResourceExhausted:
      http_status = 429;
      code = "rate_limit_exceeded";
      break;
    case absl::StatusCode::kUnavailable:
      http_status = 503;
      code = "service_unavailable";
      break;
    default:
      break;
  }
  if (std::string payload = PayloadOf(status, kCodePayload); !payload.empty()) code = payload;
  return ApiError{.http_status = http_status,
                  .message = std::string(status.message()),
                  .type = TypeFor(http_status),
                  .param = PayloadOf(status, kParamPayload),
                  .code = code};
}

ApiError HttpError(int http_status, absl::string_view message, absl::string_view code) {
  return ApiError{.http_status = http_status,
                  .message = std::string(message),
                  .type = TypeFor(http_status),
                  .param = "",
                  .code = std::string(code)};
}

}  // namespace sy::openai
