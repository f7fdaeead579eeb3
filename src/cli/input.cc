#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace deja::cli {

bool ReadInput(const std::string& path, std::string* out, std::string* error) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  out->clear();
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  bool failed = std::ferror(f) != 0;
  if (f != stdin) std::fclose(f);
  if (failed) {
    *error = "cannot read " + path;
    return false;
  }
  return true;
}

}  // namespace deja::cli
