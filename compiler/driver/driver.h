// The `allot` command line: parses arguments, runs the pipeline of stages and
// renders the results. Kept apart from `main` so tests can call it.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace allot::driver {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitPolicyError = 1;
inline constexpr int kExitUsage = 2;

struct Streams {
  std::ostream& out;
  std::ostream& err;
  bool out_is_terminal = false;
  bool err_is_terminal = false;
};

int run(const std::vector<std::string>& args, Streams streams);

}  // namespace allot::driver
