#include "server/provider_errors.h"

#include "core/json.h"

namespace deja::server {
namespace {

std::string_view OpenAIType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

std::string_view AnthropicType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 413) return "request_too_large";
  if (status == 429) return "rate_limit_error";
  if (status == 529 || status == 503) return "overloaded_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

}  // namespace

std::string ErrorBody(Provider provider, int http_status, std::string_view message,
                      std::string_view code) {
  std::string out;
  out.reserve(message.size() + 96);
  if (provider == Provider::kAnthropic) {
    out += R"({"type":"error","error":{"type":)";
    json::AppendQuoted(AnthropicType(http_status), &out);
    out += R"(,"message":)";
    json::AppendQuoted(message, &out);
    out += "}}";
    return out;
  }
  out += R"({"error":{"message":)";
  json::AppendQuoted(message, &out);
  out += R"(,"type":)";
  json::AppendQuoted(OpenAIType(http_status), &out);
  out += R"(,"param":null,"code":)";
  if (code.empty()) {
    out += "null";
  } else {
    json::AppendQuoted(code, &out);
  }
  out += "}}";
  return out;
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnavailable:
      return 502;
    default:
      return 500;
  }
}

}  // namespace deja::server
