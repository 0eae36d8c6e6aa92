#include "runtime/daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdlib>
#include <functional>

#include "runtime/api/cli.h"
#include "runtime/api/client.h"
#include "runtime/daemon/journal.h"

namespace allot::daemon {

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
tl::expected<DaemonConfig, ConfigError> read_config_file(const std::string& path) {
  DaemonConfig c;
  std::string error;
  const std::optional<std::string> text = read_file(path, error);
  if (!text) return tl::unexpected(ConfigError{error});
  toml::table t;
  try {
    t = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return tl::unexpected(ConfigError{path + ":" + std::to_string(e.source().begin.line) + ":" +
                                      std::to_string(e.source().begin.column) + ": " + std::string(e.description())});
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
      return tl::unexpected(ConfigError{path + ": unknown setting `" + k + "`"});
    }
    if (!ok) return tl::unexpected(ConfigError{path + ": setting `" + k + "` has the wrong type"});
  }
  // Relative paths in the file are relative to the file.
  const std::string dir = parent_directory(path);
  for (std::string* p : {&c.plan_path, &c.state_dir, &c.socket_path, &c.metrics_file}) {
    if (!p->empty() && (*p)[0] != '/') *p = dir + "/" + *p;
  }
  return c;
}

}  // namespace

namespace {

// The flags: each one given overrides allotd.toml. `given` records which.
struct Flags {
  DaemonConfig values;
  std::string config;
  std::vector<std::pair<CLI::Option*, std::function<void(DaemonConfig&)>>> given;
};

void define(CLI::App& app, Flags& f) {
  DaemonConfig& v = f.values;
  auto add = [&](CLI::Option* option, std::function<void(DaemonConfig&)> copy) {
    f.given.emplace_back(option, std::move(copy));
    return option;
  };
  auto range = [](std::string name, std::int64_t max, std::string what) {
    return [name, max, what](const std::string& text) -> std::optional<std::string> {
      std::int64_t n = 0;
      if (!parse_int(text, 1, max, n)) return fmt::format("`{}` needs {} (1-{})", name, what, max);
      return std::nullopt;
    };
  };
  app.add_option("--config", f.config, "settings from an allotd.toml; flags given as well override it")
      ->type_name("FILE");
  add(app.add_option("--plan", v.plan_path, "the compiled plan (required)")->type_name("PLAN.toml"),
      [&v](DaemonConfig& c) { c.plan_path = v.plan_path; });
  add(app.add_option("--node", v.node, "the plan's node this daemon runs (required)")->type_name("NAME"),
      [&v](DaemonConfig& c) { c.node = v.node; });
  add(app.add_option("--state-dir", v.state_dir,
                     "journal, snapshots and job logs (default: /var/lib/allot as root, else "
                     "$XDG_STATE_HOME/allot or ~/.local/state/allot)")
          ->type_name("DIR"),
      [&v](DaemonConfig& c) { c.state_dir = v.state_dir; });
  add(app.add_option("--socket", v.socket_path, "the API socket (default: as the client's)")->type_name("PATH"),
      [&v](DaemonConfig& c) { c.socket_path = v.socket_path; });
  add(app.add_option("--socket-group", v.socket_group, "the group owning the 0660 socket")->type_name("GROUP"),
      [&v](DaemonConfig& c) { c.socket_group = v.socket_group; });
  add(app.add_option("--metrics-file", v.metrics_file, "Prometheus text, rewritten atomically")->type_name("FILE"),
      [&v](DaemonConfig& c) { c.metrics_file = v.metrics_file; });
  add(cli::check(app.add_option("--metrics-port", v.metrics_port, "serve metrics on 127.0.0.1:PORT")->type_name("PORT"),
                 [](const std::string& text) -> std::optional<std::string> {
                   std::int64_t n = 0;
                   if (!parse_int(text, 1, 65535, n)) return "`--metrics-port` needs a port (1-65535)";
                   return std::nullopt;
                 }),
      [&v](DaemonConfig& c) { c.metrics_port = v.metrics_port; });
  add(app.add_flag("--simulate-gpus", v.simulate_gpus, "skip NVML even if present"),
      [&v](DaemonConfig& c) { c.simulate_gpus = v.simulate_gpus; });
  add(app.add_option("--nvml-library", v.nvml_library, "the NVML library (default: libnvidia-ml.so.1)")
          ->type_name("LIB"),
      [&v](DaemonConfig& c) { c.nvml_library = v.nvml_library; });
  add(cli::check(app.add_option("--idle-timeout-ms", v.idle_timeout_ms,
                                "close a connection with nothing in flight after MS (default: 300000)")
                     ->type_name("MS"),
                 range("--idle-timeout-ms", 86'400'000, "a number of milliseconds")),
      [&v](DaemonConfig& c) { c.idle_timeout_ms = v.idle_timeout_ms; });
  add(cli::check(app.add_option("--request-timeout-ms", v.request_timeout_ms,
                                "a request line must be complete MS after its first byte (default: 10000)")
                     ->type_name("MS"),
                 range("--request-timeout-ms", 86'400'000, "a number of milliseconds")),
      [&v](DaemonConfig& c) { c.request_timeout_ms = v.request_timeout_ms; });
  add(cli::check(app.add_option("--max-connections-per-uid", v.max_connections_per_uid,
                                "connections per client user, admins not counted (default: 64)")
                     ->type_name("N"),
                 range("--max-connections-per-uid", 4096, "a count")),
      [&v](DaemonConfig& c) { c.max_connections_per_uid = v.max_connections_per_uid; });
}

}  // namespace

std::string daemon_usage() {
  CLI::App app(
      "the node daemon of Allot (docs/runtime-api.md); `allotd submit|ps|cancel|status|apply|metrics` "
      "are the client commands, as `allot`'s",
      "allotd");
  Flags flags;
  define(app, flags);
  app.set_help_flag("-h,--help", "show this help");
  return cli::help_text(app, "allotd");
}

ConfigResult parse_daemon_args(const std::vector<std::string>& args) {
  CLI::App app("", "allotd");
  app.set_help_flag("-h,--help", "show this help");
  Flags flags;
  define(app, flags);
  tl::expected<cli::Parsed, cli::UsageError> parsed = cli::parse(app, args);
  if (!parsed) {
    std::string message = parsed.error().message;
    for (const std::string& h : parsed.error().help) message += "\nhelp: " + h;
    return ConfigError{message};
  }
  if (parsed->help) return ConfigHelp{daemon_usage()};
  if (!parsed->rest.empty()) return ConfigError{"unexpected argument `" + parsed->rest[0] + "`"};
  DaemonConfig c;
  if (!flags.config.empty()) {
    tl::expected<DaemonConfig, ConfigError> file = read_config_file(flags.config);
    if (!file) return file.error();
    c = std::move(*file);
  }
  for (const auto& [option, copy] : flags.given) {
    if (option->count() > 0) copy(c);
  }
  if (c.plan_path.empty()) return ConfigError{"`--plan` is required"};
  if (c.node.empty()) return ConfigError{"`--node` is required"};
  if (!c.metrics_file.empty() && c.metrics_port != 0) {
    return ConfigError{"`--metrics-file` and `--metrics-port` exclude each other"};
  }
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  if (c.socket_path.empty()) c.socket_path = api::default_socket_path(true);
  return c;
}

}  // namespace allot::daemon
