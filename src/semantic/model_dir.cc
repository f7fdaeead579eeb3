#include "semantic/model_dir.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace deja::semantic {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

StatusOr<json::Value> ReadJsonFile(const std::string& path) {
  DEJA_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json::ParseOptions options;
  options.max_size = 256u << 20;
  StatusOr<json::Value> doc = json::Parse(text, options);
  if (!doc.ok()) return DataLossError(path + ": " + doc.status().message());
  return doc;
}

double NumberField(const json::Value& v, std::string_view key, double fallback) {
  const json::Value* f = v.Find(key);
  return f != nullptr && f->is_number() ? f->as_number() : fallback;
}

}  // namespace deja::semantic
