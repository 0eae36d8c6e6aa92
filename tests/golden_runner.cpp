// Runs one golden case: a directory holding `case.allot` (and any files it
// imports), optionally `args` (the command line, one argument per line;
// default `check case.allot`), and `expected.txt`: everything the command
// printed, then `exit: N`. With ALLOT_UPDATE_GOLDEN=1 the expected file is
// rewritten instead of compared.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/driver/driver.h"

namespace {

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> read_args(const std::filesystem::path& dir) {
  const auto path = dir / "args";
  if (!std::filesystem::exists(path)) return {"check", "case.allot"};
  std::vector<std::string> args;
  std::istringstream in(read(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) args.push_back(line);
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: golden_runner CASE_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = std::filesystem::absolute(argv[1]);
  std::filesystem::current_path(dir);
  std::ostringstream out;
  std::ostringstream err;
  const int code = allot::driver::run(read_args(dir), allot::driver::Streams{out, err, false, false});
  const std::string actual = out.str() + err.str() + "exit: " + std::to_string(code) + "\n";
  const auto expected_path = dir / "expected.txt";
  const char* update = std::getenv("ALLOT_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(expected_path, std::ios::binary) << actual;
    std::cout << "updated " << expected_path.filename().string() << "\n";
    return 0;
  }
  if (!std::filesystem::exists(expected_path)) {
    std::cerr << "missing expected.txt; run with ALLOT_UPDATE_GOLDEN=1 to create it\n--- actual ---\n" << actual;
    return 1;
  }
  const std::string expected = read(expected_path);
  if (expected != actual) {
    std::cerr << "--- expected ---\n" << expected << "--- actual ---\n" << actual;
    return 1;
  }
  return 0;
}
