// Whole-file reads and atomic writes for the driver. Failures are values
// (tl::expected), turned into diagnostics or messages by the caller.
#pragma once

#include <ostream>
#include <string>
#include <tl/expected.hpp>

namespace allot::driver {

// Why a read or a write failed: the operating system's words.
struct IoError {
  std::string reason;
};

tl::expected<std::string, IoError> read_whole_file(const std::string& path);

// Writes `text` to `path` through a temporary file renamed into place; `-`
// writes to `out`.
tl::expected<void, IoError> write_output(const std::string& path, const std::string& text, std::ostream& out);

}  // namespace allot::driver
