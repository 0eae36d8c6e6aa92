// For unit tests that read the repository itself (docs, sources, policies,
// golden cases): where it is, and a file's bytes.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace allot::testing {

// The source tree (ALLOT_SOURCE_DIR, set by tests/CMakeLists.txt).
inline const std::filesystem::path kRepository = ALLOT_SOURCE_DIR;

// The whole file, or "" when it cannot be read.
inline std::string read_repository_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace allot::testing
