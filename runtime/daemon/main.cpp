// allotd: the node daemon, and a client for its own API (`allotd submit ...`).
#include <iostream>
#include <string>
#include <vector>

#include "runtime/api/client.h"
#include "runtime/daemon/config.h"
#include "runtime/daemon/daemon.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && allot::api::is_client_command(args[0]))
    return allot::api::run_client_command(args, std::cout, std::cerr);
  allot::daemon::ConfigResult config = allot::daemon::parse_daemon_args(args);
  if (const auto* help = std::get_if<allot::daemon::ConfigHelp>(&config)) {
    std::cout << help->text;
    return 0;
  }
  if (const auto* error = std::get_if<allot::daemon::ConfigError>(&config)) {
    std::cerr << "allotd: " << error->message << "\n"
              << "try `allotd --help`\n";
    return 2;
  }
  allot::daemon::Daemon daemon(std::get<allot::daemon::DaemonConfig>(std::move(config)), std::cerr);
  return daemon.run();
}
