// `allot`: client commands here, everything else by the compiler binary
// (front.h).
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/api/front.h"

#ifndef ALLOT_RELATIVE_LIBEXEC
#define ALLOT_RELATIVE_LIBEXEC "../libexec/allot"
#endif

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (const std::optional<allot::api::ClientOptions> client = allot::api::local_client_command(args)) {
    const int code = allot::api::run_client(*client, std::cout, std::cerr);
    std::cout.flush();
    std::cerr.flush();
    return code;
  }
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string own_dir = ".";
  if (n > 0) {
    own_dir.assign(self, static_cast<std::size_t>(n));
    own_dir.erase(own_dir.rfind('/') == 0 ? 1 : own_dir.rfind('/'));
  }
  const std::optional<std::string> compiler = allot::api::find_compiler(own_dir, ALLOT_RELATIVE_LIBEXEC);
  if (!compiler) {
    std::cerr << "allot: the compiler binary `allot-compiler` is missing: looked in `" << own_dir << "` and `"
              << own_dir << "/" << ALLOT_RELATIVE_LIBEXEC << "`\n"
              << "help: the client commands (submit, ps, cancel, status, metrics, node, explain ID) work without it; "
                 "reinstall allot for the others\n";
    return 2;
  }
  ::execv(compiler->c_str(), argv);
  std::cerr << "allot: cannot run `" << *compiler << "`: " << std::strerror(errno) << "\n";
  return 2;
}
