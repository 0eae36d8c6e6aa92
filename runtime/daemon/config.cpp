#include "runtime/daemon/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

#include "runtime/api/client.h"
#include "runtime/daemon/journal.h"

namespace allot::daemon {

const char* const kDaemonUsage =
    "usage: allotd --plan PLAN.toml --node NAME [--state-dir DIR] [--socket PATH] [--socket-group GROUP]\n"
    "              [--metrics-file FILE | --metrics-port PORT] [--simulate-gpus] [--nvml-library LIB]\n"
    "              [--idle-timeout-ms MS] [--request-timeout-ms MS] [--max-connections-per-uid N]\n"
    "       allotd --config allotd.toml [flags that override it]\n"
    "       allotd submit|ps|cancel|status|apply|metrics ...   (client commands, as `allot`)\n";

namespace {

std::string default_state_dir() {
  if (::geteuid() == 0) return "/var/lib/allot";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::string(xdg) + "/allot";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/allot";
  return "allot-state";
}

bool parse_int(const std::string& text, std::int64_t min, std::int64_t max, std::int64_t& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && out >= min && out <= max;
}

// Settings from allotd.toml; keys as the flags without dashes, `_` for `-`.
std::variant<DaemonConfig, ConfigError> read_config_file(const std::string& path) {
  DaemonConfig c;
  std::string error;
  const std::optional<std::string> text = read_file(path, error);
  if (!text) return ConfigError{error};
  toml::table t;
  try {
    t = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return ConfigError{path + ":" + std::to_string(e.source().begin.line) + ":" +
                       std::to_string(e.source().begin.column) + ": " + std::string(e.description())};
  }
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    auto str = [&](std::string& into) {
      if (!value.is_string()) return false;
      into = value.as_string()->get();
      return true;
    };
    bool ok = true;
    if (k == "plan") {
      ok = str(c.plan_path);
    } else if (k == "node") {
      ok = str(c.node);
    } else if (k == "state_dir") {
      ok = str(c.state_dir);
    } else if (k == "socket") {
      ok = str(c.socket_path);
    } else if (k == "socket_group") {
      ok = str(c.socket_group);
    } else if (k == "metrics_file") {
      ok = str(c.metrics_file);
    } else if (k == "nvml_library") {
      ok = str(c.nvml_library);
    } else if (k == "metrics_port") {
      ok = value.is_integer() && value.as_integer()->get() > 0 && value.as_integer()->get() < 65536;
      if (ok) c.metrics_port = static_cast<int>(value.as_integer()->get());
    } else if (k == "idle_timeout_ms" || k == "request_timeout_ms" || k == "max_connections_per_uid") {
      const std::int64_t max = k == "max_connections_per_uid" ? 4096 : 86'400'000;
      ok = value.is_integer() && value.as_integer()->get() >= 1 && value.as_integer()->get() <= max;
      if (ok && k == "idle_timeout_ms") c.idle_timeout_ms = value.as_integer()->get();
      if (ok && k == "request_timeout_ms") c.request_timeout_ms = value.as_integer()->get();
      if (ok && k == "max_connections_per_uid")
        c.max_connections_per_uid = static_cast<std::uint32_t>(value.as_integer()->get());
    } else if (k == "simulate_gpus") {
      ok = value.is_boolean();
      if (ok) c.simulate_gpus = value.as_boolean()->get();
    } else {
      return ConfigError{path + ": unknown setting `" + k + "`"};
    }
    if (!ok) return ConfigError{path + ": setting `" + k + "` has the wrong type"};
  }
  // Relative paths in the file are relative to the file.
  const std::string dir = parent_directory(path);
  for (std::string* p : {&c.plan_path, &c.state_dir, &c.socket_path, &c.metrics_file}) {
    if (!p->empty() && (*p)[0] != '/') *p = dir + "/" + *p;
  }
  return c;
}

}  // namespace

ConfigResult parse_daemon_args(const std::vector<std::string>& args) {
  DaemonConfig c;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--config") continue;
    auto file = read_config_file(args[i + 1]);
    if (auto* e = std::get_if<ConfigError>(&file)) return *e;
    c = std::get<DaemonConfig>(file);
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") return ConfigHelp{kDaemonUsage};
    if (a == "--config") {
      ++i;
    } else if (a == "--plan") {
      if (!value(c.plan_path)) return ConfigError{"--plan needs a file"};
    } else if (a == "--node") {
      if (!value(c.node)) return ConfigError{"--node needs a node name"};
    } else if (a == "--state-dir") {
      if (!value(c.state_dir)) return ConfigError{"--state-dir needs a directory"};
    } else if (a == "--socket") {
      if (!value(c.socket_path)) return ConfigError{"--socket needs a path"};
    } else if (a == "--socket-group") {
      if (!value(c.socket_group)) return ConfigError{"--socket-group needs a group name"};
    } else if (a == "--metrics-file") {
      if (!value(c.metrics_file)) return ConfigError{"--metrics-file needs a path"};
    } else if (a == "--metrics-port") {
      std::int64_t port = 0;
      if (!value(v) || !parse_int(v, 1, 65535, port)) return ConfigError{"--metrics-port needs a port (1-65535)"};
      c.metrics_port = static_cast<int>(port);
    } else if (a == "--nvml-library") {
      if (!value(c.nvml_library)) return ConfigError{"--nvml-library needs a library name"};
    } else if (a == "--simulate-gpus") {
      c.simulate_gpus = true;
    } else if (a == "--idle-timeout-ms" || a == "--request-timeout-ms") {
      std::int64_t ms = 0;
      if (!value(v) || !parse_int(v, 1, 86'400'000, ms))
        return ConfigError{a + " needs a number of milliseconds (1-86400000)"};
      (a == "--idle-timeout-ms" ? c.idle_timeout_ms : c.request_timeout_ms) = ms;
    } else if (a == "--max-connections-per-uid") {
      std::int64_t n = 0;
      if (!value(v) || !parse_int(v, 1, 4096, n))
        return ConfigError{"--max-connections-per-uid needs a count (1-4096)"};
      c.max_connections_per_uid = static_cast<std::uint32_t>(n);
    } else {
      return ConfigError{"unknown argument `" + a + "`"};
    }
  }
  if (c.plan_path.empty()) return ConfigError{"--plan is required"};
  if (c.node.empty()) return ConfigError{"--node is required"};
  if (!c.metrics_file.empty() && c.metrics_port != 0)
    return ConfigError{"--metrics-file and --metrics-port exclude each other"};
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  if (c.socket_path.empty()) c.socket_path = api::default_socket_path(true);
  return c;
}

}  // namespace allot::daemon
