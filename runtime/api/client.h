// The client side of allotd's local API: one request, one reply, and the
// `submit | ps | cancel | status | apply | metrics` commands that both `allot`
// and `allotd` offer.
#pragma once

#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "runtime/api/json.h"
#include "runtime/api/protocol.h"

namespace allot::api {

// $ALLOT_SOCKET, else /run/allot/allotd.sock when /run/allot exists (or
// `for_daemon` and running as root), else $XDG_RUNTIME_DIR/allotd.sock, else
// /run/allot/allotd.sock.
std::string default_socket_path(bool for_daemon);

struct CallError {
  std::string message;  // could not connect, send or read
};

// Sends one request and waits (at most timeout_ms) for the reply line.
std::variant<Json, CallError> call(const std::string& socket_path, const Request& request, int timeout_ms = 30000);

// True for the commands run_client_command knows.
bool is_client_command(const std::string& command);

// args[0] is the command. Exit status: 0 ok, 1 the daemon answered with an
// error, 2 usage or connection errors.
int run_client_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace allot::api
