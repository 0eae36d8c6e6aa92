// The client side of allotd's local API: one request, one reply, and the
// `submit | ps | cancel | status | apply | metrics | node | explain` commands that both `allot`
// and `allotd` offer.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "runtime/api/json.h"
#include "runtime/api/protocol.h"

namespace CLI {
class App;
}  // namespace CLI

namespace allot::api {

// $ALLOT_SOCKET, else /run/allot/allotd.sock when /run/allot exists (or
// `for_daemon` and running as root), else $XDG_RUNTIME_DIR/allotd.sock, else
// /run/allot/allotd.sock.
std::string default_socket_path(bool for_daemon);

struct CallError {
  std::string message;  // could not connect, send or read
};

// Sends one request and waits (at most timeout_ms) for the reply line.
tl::expected<Json, CallError> call(const std::string& socket_path, const Request& request, int timeout_ms = 30000);

// True for the commands run_client_command knows.
bool is_client_command(const std::string& command);

// A client command as parsed from its command line.
struct ClientOptions {
  std::string command;   // submit, ps, cancel, status, apply, metrics, node or explain
  std::string socket;    // empty: default_socket_path(false)
  bool json = false;     // print the raw reply
  bool all = false;      // `ps --all`
  bool no_wait = false;  // `node drain --no-wait`
  // `submit`
  std::string queue;
  std::optional<std::int64_t> gpu_milli, cpu_milli, memory_mib;
  std::string priority, kind;
  // submit: the command; cancel, explain: the job id; apply: the plan;
  // node: the action and the node
  std::vector<std::string> arguments;
};

// Adds `submit`, `ps`, `cancel`, `status`, `apply` and `metrics` to `app`,
// each filling `options` when given. The caller names the chosen command
// and passes cli::Parsed::rest as `arguments`.
void add_client_commands(CLI::App& app, ClientOptions& options);

// Checks what the definitions cannot (argument counts, required options);
// the message of a usage error.
std::optional<std::string> check_client_options(const ClientOptions& options);

// Runs a parsed command. Exit status: 0 ok, 1 the daemon answered with an
// error, 2 usage or connection errors.
int run_client(const ClientOptions& options, std::ostream& out, std::ostream& err);

// The whole command line, args[0] being the command: parses and runs
// (allotd's client mode).
int run_client_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace allot::api
