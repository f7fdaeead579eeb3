// Small helpers for reading the files of a model directory (config.json and friends).
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "core/json.h"
#include "deja/status.h"

namespace deja::semantic {

// Whether `path` names a regular file.
bool FileExists(const std::string& path);

// The whole file. Errors: NotFound (cannot open).
StatusOr<std::string> ReadTextFile(const std::string& path);

// The file parsed as JSON (up to 256 MB). Errors: NotFound, DataLoss (not JSON; the message names
// the file).
StatusOr<json::Value> ReadJsonFile(const std::string& path);

// Number member `key` of object `v`, or `fallback` when absent or not a number.
double NumberField(const json::Value& v, std::string_view key, double fallback);

}  // namespace deja::semantic
