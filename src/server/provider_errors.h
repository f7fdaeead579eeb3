// Error bodies in each provider's own shape, so SDKs surface deja's errors like the provider's.
//   OpenAI:    {"error":{"message":…,"type":…,"param":null,"code":…}}
//   Anthropic: {"type":"error","error":{"type":…,"message":…}}
#pragma once

#include <string>
#include <string_view>

#include "core/route.h"
#include "deja/status.h"

namespace deja::server {

std::string ErrorBody(Provider provider, int http_status, std::string_view message,
                      std::string_view code = {});

// The HTTP status deja answers for a Status from its own machinery.
int HttpStatusFor(const Status& status);

}  // namespace deja::server
