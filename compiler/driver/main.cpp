#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "compiler/driver/driver.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  allot::driver::Streams streams{std::cout, std::cerr, isatty(STDOUT_FILENO) == 1, isatty(STDERR_FILENO) == 1};
  const int code = allot::driver::run(args, streams);
  std::cout.flush();
  std::cerr.flush();
  return code;
}
