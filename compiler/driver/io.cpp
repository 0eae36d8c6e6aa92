#include "compiler/driver/io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace allot::driver {

tl::expected<std::string, IoError> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(IoError{std::strerror(errno)});
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return tl::unexpected(IoError{"read error"});
  return std::move(s).str();
}

tl::expected<void, IoError> write_output(const std::string& path, const std::string& text, std::ostream& out) {
  if (path == "-") {
    out << text;
    return {};
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << text;
    if (!file.flush()) return tl::unexpected(IoError{std::strerror(errno)});
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return tl::unexpected(IoError{ec.message()});
  }
  return {};
}

}  // namespace allot::driver
